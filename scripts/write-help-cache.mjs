// Renders every help page with the real program into dist/help/, one file per command line
// ("automna.txt" is `automna --help`, "automna config list.txt" is `automna config list --help`),
// so the binary prints help without loading commander or any command (see bin/automna.ts). The
// e2e test checks each cached page is byte-for-byte what the live program prints.
import { mkdirSync, rmSync, writeFileSync } from "node:fs";
import { Writable } from "node:stream";

const { buildProgram, main } = await import("../dist/src/cli.js");
const { loadCommand } = await import("../dist/src/commands/index.js");
const { createContext } = await import("../dist/src/context.js");

function context(sink) {
  return createContext({ streams: { stdout: sink, stderr: sink, stdin: process.stdin }, env: {} });
}

async function render(path) {
  let text = "";
  const sink = new Writable({ write(chunk, _enc, done) { text += chunk; done(); } });
  const code = await main([...path, "--help"], context(sink));
  if (code !== 0) throw new Error(`automna ${[...path, "--help"].join(" ")} exited ${code}`);
  return text;
}

const paths = [];
const walk = (cmd, path) => {
  paths.push(path);
  for (const sub of cmd.commands) walk(sub, [...path, sub.name()]);
};
const ctx = context(process.stderr);
const program = buildProgram(ctx);
for (const command of program.commands) await loadCommand(command, ctx);
walk(program, []);
const dir = new URL("../dist/help/", import.meta.url);
// A removed command's page must not outlive it.
rmSync(dir, { recursive: true, force: true });
mkdirSync(dir, { recursive: true });
for (const path of paths) writeFileSync(new URL(`${["automna", ...path].join(" ")}.txt`, dir), await render(path));
// What shell completion answers from (src/cli/complete.ts): the command tree, flags and values.
const { completionSpec } = await import("../dist/src/cli/completion-tree.js");
writeFileSync(new URL("completion.json", dir), JSON.stringify(await completionSpec(program)));
