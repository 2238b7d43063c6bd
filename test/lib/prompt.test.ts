import { describe, expect, it } from "vitest";
import { UsageError } from "../../src/lib/errors.js";
import { IO } from "../../src/lib/io.js";
import { PolicyPrompter, ScriptedPrompter } from "../../src/lib/prompt.js";
import { MemoryStream } from "../helpers/cli.js";

function io(tty: boolean, env: Record<string, string> = {}): IO {
  const stdin = Object.assign(new MemoryStream(tty), { isTTY: tty }) as unknown as NodeJS.ReadableStream & { isTTY?: boolean };
  return new IO({ stdout: new MemoryStream(tty), stderr: new MemoryStream(tty), stdin }, env);
}

describe("prompt policy", () => {
  it("fails a confirmation at once, naming the flag, when nobody can answer", async () => {
    const p = new PolicyPrompter(io(false), new ScriptedPrompter({}));
    const err = await p.confirm({ message: "Destroy 3 users?", flag: "--yes" }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(UsageError);
    expect((err as UsageError).message).toBe("Destroy 3 users: no answer, and prompts are off (not a terminal, --no-input or CI)");
    expect((err as UsageError).hint).toBe("pass --yes");
  });

  it("never asks for a secret without a terminal, and takes defaults for the rest", async () => {
    const p = new PolicyPrompter(io(false), new ScriptedPrompter({}));
    await expect(p.password({ message: "Token:", flag: "HCLOUD_TOKEN" })).rejects.toThrow(/prompts are off/);
    await expect(p.input({ message: "Region:", flag: "--region", default: "fsn1" })).resolves.toBe("fsn1");
    await expect(p.input({ message: "Name:", flag: "--name" })).rejects.toMatchObject({ hint: "pass --name" });
  });

  it("does not prompt under CI or --no-input even on a terminal", async () => {
    const ci = new PolicyPrompter(io(true, { CI: "true" }), new ScriptedPrompter({ "Sure": true }));
    await expect(ci.confirm({ message: "Sure?", flag: "--yes" })).rejects.toMatchObject({ hint: "pass --yes" });
    const terminal = io(true);
    const asks = new PolicyPrompter(terminal, new ScriptedPrompter({ "Sure": true }));
    await expect(asks.confirm({ message: "Sure?", flag: "--yes" })).resolves.toBe(true);
    terminal.configure({ input: false });
    await expect(asks.confirm({ message: "Sure?", flag: "--yes" })).rejects.toMatchObject({ hint: "pass --yes" });
  });
});
