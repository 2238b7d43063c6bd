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
for (const stream of [process.stdout, process.stderr]) {
  stream.on("error", (error: NodeJS.ErrnoException) => {
    if (error.code === "EPIPE") return;
    process.stderr.write(`automna: cannot write output: ${error.message}\n`);
    process.exit(1);
  });
}

async function run(): Promise<number> {
  // Reuse compiled bytecode between runs: most of a CLI's start-up is module compilation.
  const { enableCompileCache } = await import("node:module");
  enableCompileCache?.();
  if (args.length === 1 && (args[0] === "--version" || args[0] === "-V")) {
    const { VERSION } = await import("../src/version.js");
    process.stdout.write(`${VERSION}\n`);
    return 0;
  }
  if (args.length === 1 && (args[0] === "--help" || args[0] === "-h")) {
    // The root help page is rendered at build time by the real program (scripts/write-help-cache.mjs).
    const { readFileSync } = await import("node:fs");
    try {
      process.stdout.write(readFileSync(new URL("../help.txt", import.meta.url), "utf8"));
      return 0;
    } catch {
      /* not pre-rendered: render it live below */
    }
  }
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
  let firstAt = 0;
  const onSignal = (): void => {
    // conf's exit hook (when-exit) re-raises a signal on this process the moment it sees it; that
    // echo is not a second Ctrl-C, and no person presses twice within a quarter of a second.
    if (interrupts > 0 && Date.now() - firstAt < 250) return;
    if (interrupts === 0) firstAt = Date.now();
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
