import { execFileSync, spawn } from "node:child_process";
import { createHash } from "node:crypto";
import { randomBytes } from "node:crypto";
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { hostKeyFailure, hostKeysFromConsole, pinHostKeys } from "../../src/lib/known-hosts.js";
import type { HostHandle } from "../../src/sandbox/host/index.js";
import { ptySupported } from "../../src/sandbox/host/process.js";
import { collect, hostProcesses, makeWorkspace, ssh, sshArgv, testHost, until, type Workspace } from "./host-helpers.js";

const sha256 = (b: Buffer) => createHash("sha256").update(b).digest("hex");
let ws: Workspace;
let host: HostHandle;

beforeAll(async () => {
  ws = makeWorkspace();
  host = await testHost(ws, "ssh-one", "127.77.200.1");
});
afterAll(async () => {
  await host?.close();
  ws?.cleanup();
});

describe("commands through the real ssh client", () => {
  test("a one-off command runs with a real shell in the host's own directory", async () => {
    const r = await ssh(ws, host, 'echo hello; pwd; printf "%s\\n" "$HOME" "$USER"; [ -d "$AUTOMNA_DATA/memory" ] && echo data-ok');
    expect(r.stderr).toBe("");
    expect(r.code).toBe(0);
    expect(r.stdout.toString()).toBe(`hello\n${host.rootDir}\n${host.rootDir}\nroot\ndata-ok\n`);
  });

  test("the remote exit code is ssh's exit code", async () => {
    expect((await ssh(ws, host, "exit 7")).code).toBe(7);
    expect((await ssh(ws, host, "false")).code).toBe(1);
    expect((await ssh(ws, host, "definitely-not-a-command")).code).toBe(127);
    // Killed by a signal: sent as exit-signal, which OpenSSH reports as 255 (as with a real sshd).
    expect((await ssh(ws, host, "kill -TERM $$")).code).toBe(255);
  });

  test("argv words arrive unchanged through ssh's space-joining", async () => {
    const words = ["a b", "it's", "$HOME", "*", "", "tab\there", "semi;colon", "new\nline"];
    const r = await ssh(ws, host, ["printf", "[%s]", ...words]);
    expect(r.stdout.toString()).toBe(words.map((w) => `[${w}]`).join(""));
  });

  test("stdin is piped in, binary-safe, until EOF", async () => {
    const input = randomBytes(3 * 1024 * 1024 + 17);
    const r = await ssh(ws, host, "cat > upload.bin && sha256sum upload.bin && wc -c < upload.bin", { input });
    expect(r.code).toBe(0);
    expect(r.stdout.toString()).toBe(`${sha256(input)}  upload.bin\n${input.length}\n`);
    expect(sha256(readFileSync(join(host.rootDir, "upload.bin")))).toBe(sha256(input));
  });

  test("binary output comes back intact", async () => {
    const made = await ssh(ws, host, "head -c 1048576 /dev/urandom | tee random.bin | sha256sum");
    const remoteHash = made.stdout.toString().split(" ")[0];
    const back = await ssh(ws, host, "cat random.bin");
    expect(back.code).toBe(0);
    expect(back.stdout.length).toBe(1048576);
    expect(sha256(back.stdout)).toBe(remoteHash);
  });

  test("stdout and stderr stay apart", async () => {
    const r = await ssh(ws, host, "echo out; echo err >&2; exit 3");
    expect([r.code, r.stdout.toString(), r.stderr]).toEqual([3, "out\n", "err\n"]);
  });

  test("commands get the host's environment, not the sandbox process's secrets", async () => {
    process.env.HCLOUD_TOKEN = "sandbox-secret-token-value";
    try {
      const r = await ssh(ws, host, "env");
      expect(r.stdout.toString()).not.toContain("sandbox-secret-token-value");
      expect(r.stdout.toString()).toContain(`AUTOMNA_DATA=${host.dataDir}\n`);
      expect(r.stdout.toString()).toMatch(/^SSH_CONNECTION=127\.0\.0\.1 \d+ 127\.77\.200\.1 \d+$/m);
    } finally {
      delete process.env.HCLOUD_TOKEN;
    }
  });

  test("/data is the host's data directory (bind-mounted when this machine allows it)", async () => {
    const canMount = process.getuid?.() === 0 && ["/usr/bin/unshare", "/bin/unshare"].some((p) => existsSync(p));
    expect(host.isolation).toBe(canMount ? "mount-namespace" : "env");
    const dir = canMount ? "/data" : '"$AUTOMNA_DATA"';
    const r = await ssh(ws, host, `echo written-remotely > ${dir}/from-ssh.txt && ls ${dir}/memory | head -1`);
    expect(r.stdout.toString()).toBe("conversations-0.json\n");
    expect(readFileSync(join(host.dataDir, "from-ssh.txt"), "utf8")).toBe("written-remotely\n");
    if (canMount) {
      const alias = await ssh(ws, host, "cat /var/lib/automna/data/from-ssh.txt; hostname");
      expect(alias.stdout.toString()).toBe("written-remotely\nssh-one\n");
      expect(host.dataPaths).toEqual(["/data", "/var/lib/automna/data"]);
    }
  });

  test("an interactive shell without a pty reads commands from stdin", async () => {
    const r = await ssh(ws, host, undefined, { input: "echo $((6*7))\nexit 3\n", extra: { tty: false } });
    expect(r.code).toBe(3);
    expect(r.stdout.toString()).toContain("42\n");
  });

  test("a pty is a real terminal when asked for (refused, and ssh goes on without, if util-linux script is missing)", async () => {
    const r = await ssh(ws, host, "tty; echo $TERM", { extra: { tty: "force" } });
    if (ptySupported()) {
      expect(r.code).toBe(0);
      expect(r.stdout.toString()).toMatch(/^\/dev\/pts\/\d+\r\n\S+\r\n$/);
    } else {
      expect(r.stderr).toContain("PTY allocation request failed");
      expect(r.stdout.toString()).toBe("not a tty\n\n");
    }
  });

  test.each([["without", false], ["with", "force"]] as const)("killing the ssh client hangs up the remote command (%s a pty)", async (_, tty) => {
    const child = spawn("ssh", sshArgv(ws, host, "echo started; sleep 30", { tty }), { stdio: ["pipe", "pipe", "pipe"] });
    const done = collect(child);
    await until(() => new Promise<boolean>((resolve) => child.stdout.once("data", () => resolve(true))));
    expect(hostProcesses("ssh-one").length).toBeGreaterThan(0);
    child.kill("SIGKILL");
    await done;
    await until(() => hostProcesses("ssh-one").length === 0 || undefined);
  });

  test("LANG and LC_* sent by the client reach the command; other variables do not", async () => {
    const r = await ssh(ws, host, 'printf "%s|%s|%s" "$LANG" "$LC_TIME" "${EVIL-unset}"', { extra: { extraOptions: ["SetEnv=LANG=C.UTF-8 LC_TIME=en_GB.UTF-8 EVIL=1"] } });
    expect(r.stdout.toString()).toBe("C.UTF-8|en_GB.UTF-8|unset");
  });
});

describe("who may log in", () => {
  test("any user name, but only registered keys", async () => {
    const deploy = await ssh(ws, host, "echo $USER", { extra: { user: "deploy" } });
    expect(deploy.stdout.toString()).toBe("deploy\n");

    const other = join(ws.dir, "other_key");
    execFileSync("ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-f", other]);
    const refused = await ssh(ws, host, "echo in", { extra: { identityFile: other } });
    expect(refused.code).toBe(255);
    expect(refused.stderr).toContain("Permission denied (publickey)");
    expect(refused.stdout.length).toBe(0);

    host.setAuthorizedKeys([readFileSync(`${other}.pub`, "utf8")]);
    try {
      expect((await ssh(ws, host, "echo in", { extra: { identityFile: other } })).stdout.toString()).toBe("in\n");
      expect((await ssh(ws, host, "echo in")).code).toBe(255);
    } finally {
      host.setAuthorizedKeys([ws.publicKey]);
    }
  });

  test("a known_hosts path with a space in it works", async () => {
    const spaced = join(ws.dir, "Application Support", "known_hosts");
    await pinHostKeys(spaced, { address: host.address, port: host.sshPort, keys: [host.hostKeyPublic] });
    const r = await ssh(ws, host, "echo spaced", { extra: { knownHostsFile: spaced } });
    expect([r.code, r.stdout.toString()]).toEqual([0, "spaced\n"]);
  });

  test("an RSA client key works too (SHA-2 signatures)", async () => {
    const rsa = join(ws.dir, "rsa_key");
    execFileSync("ssh-keygen", ["-q", "-t", "rsa", "-b", "2048", "-N", "", "-f", rsa]);
    host.setAuthorizedKeys([ws.publicKey, `no-pty ${readFileSync(`${rsa}.pub`, "utf8")}`]);
    try {
      const r = await ssh(ws, host, "echo rsa-ok", { extra: { identityFile: rsa } });
      expect(r.stdout.toString()).toBe("rsa-ok\n");
    } finally {
      host.setAuthorizedKeys([ws.publicKey]);
    }
  });
});

describe("host keys", () => {
  test("the key is published as cloud-init prints it, and automna reads it back", async () => {
    expect(host.hostKeyConsole).toBe([
      "-----BEGIN SSH HOST KEY FINGERPRINTS-----",
      `256 ${host.hostKeyFingerprint} root@ssh-one (ED25519)`,
      "-----END SSH HOST KEY FINGERPRINTS-----",
      "-----BEGIN SSH HOST KEY KEYS-----",
      `${host.hostKeyPublic} root@ssh-one`,
      "-----END SSH HOST KEY KEYS-----",
      "",
    ].join("\n"));
    const console = `Booting...\n${host.hostKeyConsole.split("\n").map((l) => (l ? `<14>Nov 29 12:00:00 cloud-init: ${l}` : l)).join("\n")}login:`;
    expect(hostKeysFromConsole(console)).toEqual([host.hostKeyPublic]);
  });

  test("the key persists in the host's directory and matches ssh-keygen's fingerprint", async () => {
    const keyFile = join(host.rootDir, ".host", "ssh_host_ed25519_key");
    expect(readFileSync(`${keyFile}.pub`, "utf8")).toBe(`${host.hostKeyPublic}\n`);
    expect(host.hostKeyPublic).toMatch(/^ssh-ed25519 AAAA[A-Za-z0-9+/]+=*$/);
    expect(execFileSync("ssh-keygen", ["-l", "-f", `${keyFile}.pub`]).toString()).toContain(host.hostKeyFingerprint);
  });

  test("a restarted host keeps its key; a re-created one is refused until re-pinned", async () => {
    const address = "127.77.200.2";
    // A port the kernel gave (a fixed one can be taken by a server listening on every address).
    const first = await testHost(ws, "rekey-a", address, { sshPort: 0 });
    const port = first.sshPort;
    const key = first.hostKeyPublic;
    await first.close();
    const again = await testHost(ws, "rekey-a", address, { sshPort: port });
    expect(again.hostKeyPublic).toBe(key);
    expect((await ssh(ws, again, "echo same")).stdout.toString()).toBe("same\n");
    await again.close();

    // A different machine (new directory, new key) answering at the same address and port.
    const { startHost } = await import("../../src/sandbox/host/index.js");
    const other = await startHost({ id: "rekey-b", address, sshPort: port, healthPort: null, rootDir: join(ws.dir, "rekey-b"), authorizedKeys: [ws.publicKey] });
    try {
      expect(other.hostKeyPublic).not.toBe(key);
      const refused = await collect(spawn("ssh", sshArgv(ws, other, "echo should-not-run"), { stdio: ["ignore", "pipe", "pipe"] }));
      expect(refused.code).toBe(255);
      expect(refused.stderr).toContain("REMOTE HOST IDENTIFICATION HAS CHANGED");
      expect(hostKeyFailure(refused.stderr)).toBe("changed");
      expect(refused.stdout.length).toBe(0);

      await pinHostKeys(ws.knownHosts, { address, port, keys: [other.hostKeyPublic] });
      expect((await ssh(ws, other, "echo re-pinned")).stdout.toString()).toBe("re-pinned\n");
    } finally {
      await other.close();
    }
  });
});

describe("simulated network latency (sshLatencyMs)", () => {
  test("every byte arrives later, in order: a command and its binary output intact, slower by at least two round trips", async () => {
    const slow = await testHost(ws, "ssh-far", "127.77.200.9", { sshLatencyMs: 40 });
    try {
      const input = randomBytes(512 * 1024 + 3);
      const started = Date.now();
      const r = await ssh(ws, slow, "cat > in.bin && sha256sum < in.bin && cat in.bin", { input });
      const elapsed = Date.now() - started;
      expect(r.code).toBe(0);
      const out = r.stdout;
      const nl = out.indexOf(10);
      expect(out.subarray(0, nl).toString().split(" ")[0]).toBe(sha256(input));
      expect(sha256(out.subarray(nl + 1))).toBe(sha256(input));
      // A lower bound, not a speed claim: key exchange and auth alone are two round trips of 80 ms.
      expect(elapsed).toBeGreaterThanOrEqual(160);
    } finally {
      await slow.close();
    }
  });
});
