#!/usr/bin/env node
// The only module that touches process.exit/exitCode. Kept free of static imports so that an
// old Node reaches the version check, and `--version` costs little more than Node's own start.
const [major, minor] = process.versions.node.split(".").map(Number) as [number, number];
if (major < 22 || (major === 22 && minor < 22) || (major > 22 && major < 24) || (major === 24 && minor < 15)) {
  process.stderr.write(
    `automna needs Node.js 22.22+ or 24.15+; this is ${process.version}: install Node.js 24 (https://nodejs.org/en/download, or \`nvm install 24\`)\n`,
  );
  process.exit(1);
}

const args = process.argv.slice(2);

// A reader that stops early (`automna list | head`) closes the pipe. That is not fatal here: the
// run's IO sees the same error and cancels the run through its signal, so a command stops
// between steps, releases its leases and exits 141 (src/cli.ts), rather than dying mid-step.
function watchOutput(stream: NodeJS.WriteStream): void {
  stream.on("error", (error: NodeJS.ErrnoException) => {
    if (error.code === "EPIPE") return;
    process.stderr.write(`automna: cannot write output: ${error.message}\n`);
    process.exit(1);
  });
}

/**
 * The pre-rendered page a plain help request asks for, named by its command line: `--help`,
 * `config list --help`, `help config list` and `help --help` give "automna", "automna config
 * list", "automna config list" and "automna help". Undefined for anything else (global flags, arguments), which the live
 * program answers.
 */
function helpPage(argv: string[]): string | undefined {
  let words: string[];
  // A trailing --help first: `help --help` is the help command's own page, "automna help".
  if (argv.at(-1) === "--help" || argv.at(-1) === "-h") words = argv.slice(0, -1);
  else if (argv[0] === "help") words = argv.slice(1);
  else return undefined;
  return words.every((w) => /^[a-z][a-z0-9-]*$/.test(w)) ? ["automna", ...words].join(" ") : undefined;
}

/** `--version` and the pre-rendered help pages: what the binary answers without loading the program. */
async function quickAnswer(argv: string[]): Promise<string | undefined> {
  if (argv.length === 1 && (argv[0] === "--version" || argv[0] === "-V")) {
    const { VERSION } = await import("../src/version.js");
    return `${VERSION}\n`;
  }
  const page = helpPage(argv);
  if (page === undefined) return undefined;
  // Help pages are rendered at build time by the real program (scripts/write-help-cache.mjs).
  // getBuiltinModule, not import(): an ES module namespace of node:fs costs more than the read.
  const { readFileSync } = process.getBuiltinModule("node:fs");
  try {
    return readFileSync(new URL(`../help/${page}.txt`, import.meta.url), "utf8");
  } catch {
    return undefined; // not pre-rendered (no such command, or not built): the live program answers
  }
}

/**
 * `automna __complete <words...>`, what the shell completion scripts ask on every TAB: answered
 * from the spec the build wrote, without loading the program (src/cli/complete.ts).
 */
async function completeWords(words: string[]): Promise<string> {
  const { complete, readSpec } = await import("../src/cli/complete.js");
  try {
    return (await complete(readSpec(), words, process.env)).map((c) => `${c}\n`).join("");
  } catch {
    return ""; // not built, or an unreadable spec: no candidates rather than an error in the prompt
  }
}

async function run(): Promise<number> {
  // Answered before anything else is set up: even opening stderr shows in `--help`'s start-up time.
  const quick = args[0] === "__complete" ? await completeWords(args.slice(1)) : await quickAnswer(args);
  watchOutput(process.stdout);
  if (quick !== undefined) {
    process.stdout.write(quick);
    return 0;
  }
  watchOutput(process.stderr);
  // Reuse compiled bytecode between runs: most of a CLI's start-up is module compilation (the
  // fast paths above compile next to nothing, so they do not pay for opening the cache).
  const { enableCompileCache } = await import("node:module");
  enableCompileCache?.();
  // node:sqlite warns that it is experimental on Node 22; that is not the user's concern.
  const emit = process.emitWarning.bind(process);
  process.emitWarning = ((warning: string | Error, ...rest: unknown[]) => {
    const text = typeof warning === "string" ? warning : warning.message;
    if (/SQLite is an experimental feature/.test(text)) return;
    (emit as (...a: unknown[]) => void)(warning, ...rest);
  }) as typeof process.emitWarning;

  const [{ main }, { createContext }] = await Promise.all([import("../src/cli.js"), import("../src/context.js")]);
  const controller = new AbortController();
  let interrupts = 0;
  const onSignal = (): void => {
    interrupts++;
    if (interrupts > 1) {
      // A second Ctrl-C while cleaning up: stop now. State writes are transactions, so nothing is torn.
      process.stderr.write("\ninterrupted again: exiting now\n");
      process.exit(130);
    }
    controller.abort();
  };
  process.on("SIGINT", onSignal);
  process.on("SIGTERM", onSignal);
  const ctx = createContext({
    streams: { stdout: process.stdout, stderr: process.stderr, stdin: process.stdin },
    env: process.env,
    signal: controller.signal,
  });
  return main(args, ctx);
}

run().then(
  (code) => {
    process.exitCode = code;
    // If a keep-alive socket or a stray timer would hold the process open, do not wait for it.
    setTimeout(() => process.exit(code), 200).unref();
  },
  (error: unknown) => {
    process.stderr.write(`automna: fatal: ${error instanceof Error ? error.message : String(error)}\n`);
    process.exitCode = 1;
  },
);
