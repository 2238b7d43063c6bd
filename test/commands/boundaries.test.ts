import { readdirSync, readFileSync } from "node:fs";
import { dirname, join, relative, resolve, sep } from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";

const SRC = fileURLToPath(new URL("../../src/", import.meta.url));
const COMMANDS = join(SRC, "commands");

/**
 * A command is `src/commands/<name>.ts` or the folder `src/commands/<name>/`. The registry at the
 * top (`index.ts`, or a `manifest.ts` listing commands to load) may name every command, and any
 * command may read the registry; nothing else may reach into another command: shared code lives in src/fleet, src/lib, src/access...
 */
const REGISTRY = new Set(["index", "manifest"]);

function commandOf(file: string): string {
  return relative(COMMANDS, file).split(sep)[0]!.replace(/\.[jt]s$/, "");
}

function sources(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => (e.isDirectory() ? sources(join(dir, e.name)) : e.name.endsWith(".ts") ? [join(dir, e.name)] : []));
}

/** Every relative module a file imports, statically or lazily, or re-exports. */
function relativeImports(text: string): string[] {
  return [...text.matchAll(/(?:\bfrom\s+|\bimport\s*\(\s*|^\s*import\s+)["'](\.{1,2}\/[^"']+)["']/gm)].map((m) => m[1]!);
}

/** `file -> module` for each import of one command's file into another command. */
function crossCommandImports(): string[] {
  const found: string[] = [];
  for (const file of sources(COMMANDS)) {
    const from = commandOf(file);
    if (REGISTRY.has(from)) continue;
    for (const spec of relativeImports(readFileSync(file, "utf8"))) {
      const target = resolve(dirname(file), spec);
      if (!target.startsWith(COMMANDS + sep)) continue;
      // The registry itself may be read by any command (help and completion walk it).
      if (commandOf(target) !== from && !REGISTRY.has(commandOf(target))) found.push(`${relative(SRC, file)} -> ${relative(SRC, target)}`);
    }
  }
  return found;
}

describe("command boundaries", () => {
  it("finds imports of every form", () => {
    expect(relativeImports(`import { a } from "../x.js";\nimport type { B } from "./y.js";\nconst c = await import("../z/w.js");\nexport { d } from "./v.js";\nimport "./side.js";`))
      .toEqual(["../x.js", "./y.js", "../z/w.js", "./v.js", "./side.js"]);
  });

  it("no command imports another command's module (shared code lives outside src/commands)", () => {
    expect(crossCommandImports()).toEqual([]);
  });
});
