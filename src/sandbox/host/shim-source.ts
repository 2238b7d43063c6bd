import { readFile } from "node:fs/promises";
import { stripTypeScriptTypes } from "node:module";
import { extname } from "node:path";
import { fileURLToPath } from "node:url";

/** docker-cli next to this module: .ts when running from source, .js from the build. */
const PROGRAM = fileURLToPath(new URL(`./docker-cli${extname(fileURLToPath(import.meta.url))}`, import.meta.url));

let source: Promise<string> | undefined;

/**
 * The docker shim as plain JavaScript. From the build it is the compiled file; from source its
 * types are stripped once per process, so each `docker` call does not pay node's TypeScript
 * loader (tens of milliseconds per call on a busy machine).
 */
export function shimSource(): Promise<string> {
  source ??= readFile(PROGRAM, "utf8").then((text) => (PROGRAM.endsWith(".ts") ? stripQuietly(text) : text));
  return source;
}

function stripQuietly(text: string): string {
  // stripTypeScriptTypes announces itself as experimental on stderr; in a sandbox that would land
  // in the middle of the operator's output, and it is only the development path anyway.
  const emitWarning = process.emitWarning;
  process.emitWarning = () => {};
  try {
    return stripTypeScriptTypes(text);
  } finally {
    process.emitWarning = emitWarning;
  }
}
