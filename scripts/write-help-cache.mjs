// Renders `automna --help` with the real program into dist/help.txt, so the binary can print the
// root help page without loading commander and every command (see bin/automna.ts). The e2e test
// checks the cached page is byte-for-byte what the live program prints.
import { writeFileSync } from "node:fs";
import { Writable } from "node:stream";

const { main } = await import("../dist/src/cli.js");
const { createContext } = await import("../dist/src/context.js");
let text = "";
const sink = new Writable({ write(chunk, _enc, done) { text += chunk; done(); } });
const ctx = createContext({ streams: { stdout: sink, stderr: sink, stdin: process.stdin }, env: {} });
const code = await main(["--help"], ctx);
if (code !== 0) throw new Error(`automna --help exited ${code}`);
writeFileSync(new URL("../dist/help.txt", import.meta.url), text);
