// Preload (node --import) that records every module file the process loads and writes the list,
// one file: URL a line, to $AUTOMNA_RECORD_MODULES when it exits. Used to check what a command
// loads at start-up.
import { writeFileSync } from "node:fs";
import { registerHooks } from "node:module";

const loaded = new Set();
registerHooks({
  load(url, context, next) {
    if (url.startsWith("file:")) loaded.add(url);
    return next(url, context);
  },
});
process.on("exit", () => writeFileSync(process.env.AUTOMNA_RECORD_MODULES, [...loaded].join("\n")));
