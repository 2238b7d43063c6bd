import { randomBytes } from "node:crypto";
import { execa } from "execa";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { accessWorld, interruptFollow, provision, seqs, type AccessWorld } from "../access/helpers.js";
import { BIN } from "../helpers/bin.js";
import { budget } from "../helpers/budget.js";

// The built binary, where ssh gets automna's own stdin, stdout and stderr (inherited, not copied).
let w: AccessWorld;
beforeAll(async () => {
  w = await accessWorld();
  await provision(w, "hetzner", ["alice"]);
});
afterAll(async () => {
  await w?.cleanup();
});

const automna = (args: string[], input?: string | Buffer) =>
  execa(process.execPath, [BIN, ...args], { env: w.env, extendEnv: false, reject: false, encoding: "buffer", stripFinalNewline: false, ...(input === undefined ? { stdin: "ignore" as const } : { input }) });

describe("automna ssh through the binary (stdio inherited)", () => {
  it("a command: stdin piped in, the exit code passed on", async () => {
    const r = await automna(["ssh", "alice", "--", "tr a-z A-Z; exit 3"], "piped through\n");
    expect(r.exitCode).toBe(3);
    expect(Buffer.from(r.stdout).toString()).toBe("PIPED THROUGH\n");
    expect(Buffer.from(r.stderr).toString()).toBe("");
  });

  it("binary output reaches stdout intact", async () => {
    const blob = randomBytes(200_000);
    const put = await automna(["ssh", "alice", "--", 'cat > "${AUTOMNA_DATA:-/data}/b.bin"'], blob);
    expect(put.exitCode).toBe(0);
    const get = await automna(["ssh", "alice", "--", 'cat "${AUTOMNA_DATA:-/data}/b.bin"']);
    expect(get.exitCode).toBe(0);
    expect(Buffer.compare(Buffer.from(get.stdout), blob)).toBe(0);
  });

  it("no command: a login shell reading the commands on stdin", async () => {
    const r = await automna(["ssh", "alice"], "echo from-the-shell; hostname; exit 5\n");
    expect(r.exitCode).toBe(5);
    expect(Buffer.from(r.stdout).toString()).toContain("from-the-shell\nautomna-alice\n");
  });
});

describe("automna logs -f through the binary", () => {
  it("ends quietly with exit 0 when its reader goes away (logs -f | head)", async () => {
    const q = (a: string) => `'${a.replace(/'/g, "'\\''")}'`;
    const r = await execa("sh", ["-c", `{ ${q(process.execPath)} ${q(BIN)} logs alice -f --tail 1; echo "automna exit $?" >&2; } | head -n 5`], { env: w.env, extendEnv: false, reject: false, timeout: budget(15_000) });
    expect(r.timedOut).toBe(false);
    expect(seqs(r.stdout)).toHaveLength(5);
    expect(r.stderr).toBe("automna exit 0");
  });

  it("Ctrl-C (SIGINT) ends a follow cleanly with exit 0", async () => {
    const r = await interruptFollow(w.env, "alice");
    expect(r.stderr).toBe("");
    expect(r.exitCode).toBe(0);
    expect(r.stderr).toBe("");
    const got = seqs(String(r.stdout));
    expect(got).toEqual(Array.from({ length: got.length }, (_, i) => got[0]! + i));
  });
});
