import { chmodSync, mkdirSync, mkdtempSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { sharedConnectionsDir } from "../../src/access/run.js";
import { sshArgvFor } from "../../src/access/ssh.js";

// Short on purpose: a socket path has ~104 bytes, and ssh appends 58 to the directory.
const base = mkdtempSync("/tmp/am-");
afterAll(() => rmSync(base, { recursive: true, force: true }));

describe("shared SSH connections (ControlMaster) for the data path", () => {
  it("uses a short private directory: $XDG_RUNTIME_DIR/automna first, made 0700", async () => {
    const dir = await sharedConnectionsDir({ XDG_RUNTIME_DIR: join(base, "run"), XDG_DATA_HOME: join(base, "data") });
    expect(dir).toBe(join(base, "run", "automna"));
    expect(statSync(dir!).mode & 0o777).toBe(0o700);
  });

  it("skips directories too long for a socket path, and any that others can open", async () => {
    const long = join(base, "x".repeat(60));
    const open = join(base, "open");
    mkdirSync(join(open, "automna"), { recursive: true });
    chmodSync(join(open, "automna"), 0o755);
    const dir = await sharedConnectionsDir({ XDG_RUNTIME_DIR: open, XDG_DATA_HOME: long });
    // Neither: the fallback in the temp directory, named for this user.
    expect(dir).toBe(join(tmpdir(), `automna-${process.getuid!()}`));
  });

  it("puts the ControlMaster options after the operator's, so ssh.options can turn sharing off", () => {
    const settings = { user: "root", port: 22, identityFile: undefined, options: ["ControlMaster=no"], knownHosts: "/k" };
    const argv = sshArgvFor({ user: "alice", address: "127.0.0.5", settings }, { command: "true", logLevel: "ERROR", shareDir: "/tmp/am" });
    const values = argv.filter((_, i) => argv[i - 1] === "-o");
    expect(values.indexOf("ControlMaster=no")).toBeLessThan(values.indexOf("ControlMaster=auto"));
    expect(values).toEqual(expect.arrayContaining(["ControlPath=/tmp/am/%C", "ControlPersist=60"]));
    const plain = sshArgvFor({ user: "alice", address: "127.0.0.5", settings }, { command: "true", logLevel: "ERROR" });
    expect(plain.join(" ")).not.toContain("ControlMaster=auto");
  });
});
