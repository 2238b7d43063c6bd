import { Readable } from "node:stream";
import { describe, expect, it } from "vitest";
import { IO } from "../../src/lib/io.js";
import { MemoryStream } from "../helpers/cli.js";

function io(options: { tty: boolean; env?: NodeJS.ProcessEnv }): { io: IO; stderr: MemoryStream } {
  const stderr = new MemoryStream(options.tty);
  const stdin = Readable.from([]) as Readable & { isTTY?: boolean };
  return { io: new IO({ stdout: new MemoryStream(options.tty), stderr, stdin }, options.env ?? {}), stderr };
}

/** Resolves once the stream holds `text` (the spinner starts when ora has loaded). */
async function until(stream: MemoryStream, text: string): Promise<void> {
  while (!stream.text().includes(text)) await new Promise((r) => setImmediate(r));
}

// eslint-disable-next-line no-control-regex
const COLOUR = /\x1b\[\d+(;\d+)*m/;

describe("a task's progress line", () => {
  it("is an ora spinner on a terminal's stderr, cleared when the task ends", async () => {
    const { io: out, stderr } = io({ tty: true, env: { FORCE_COLOR: "1" } });
    const task = out.task("reading prices");
    await until(stderr, "reading prices");
    expect(stderr.text()).toContain("\x1b[36m⠋\x1b[39m reading prices");
    task.update("reading sizes");
    await until(stderr, "reading sizes");
    task.succeed("refreshed");
    expect(stderr.text().endsWith(`\x1b[32m✓\x1b[39m refreshed\n`)).toBe(true);
    // After the end the spinner draws no more frames.
    const ended = stderr.text();
    await new Promise((r) => setTimeout(r, 200));
    expect(stderr.text()).toBe(ended);
  });

  it("has no colour under NO_COLOR, even on a terminal", async () => {
    const { io: out, stderr } = io({ tty: true, env: { NO_COLOR: "1", FORCE_COLOR: "1" } });
    const task = out.task("working");
    await until(stderr, "working");
    task.fail("failed");
    expect(stderr.text()).toContain("⠋ working");
    expect(stderr.text()).not.toMatch(COLOUR);
    expect(stderr.text().endsWith("✗ failed\n")).toBe(true);
  });

  it("is one plain line per step when stderr is not a terminal, and nothing under --quiet or --json", async () => {
    const plain = io({ tty: false });
    const task = plain.io.task("step 1");
    task.update("step 2");
    task.succeed("done");
    expect(plain.stderr.text()).toBe("step 1\nstep 2\n✓ done\n");
    for (const flags of [{ quiet: true }, { json: true }]) {
      const quiet = io({ tty: true });
      quiet.io.configure(flags);
      const t = quiet.io.task("step 1");
      t.update("step 2");
      t.succeed("done");
      await new Promise((r) => setTimeout(r, 50));
      expect(quiet.stderr.text()).toBe("");
    }
  });

  it("stops without a line of its own when the caller prints the result", async () => {
    const { io: out, stderr } = io({ tty: true, env: { NO_COLOR: "1" } });
    const task = out.task("working");
    await until(stderr, "working");
    task.stop();
    out.warn("something to say");
    // The spinner's line is cleared (cursor to column 1, erase to the end), then the message.
    expect(stderr.text().endsWith("⠋ working\x1b[?2026l\x1b[1G\x1b[0KWarning: something to say\n")).toBe(true);
  });
});
