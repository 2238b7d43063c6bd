import { randomBytes, createHash } from "node:crypto";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startHost } from "../../src/sandbox/host/index.js";
import { SqliteStore } from "../../src/state/sqlite-store.js";
import { accessWorld, hostKeyOf, provision, SSH_PORT, type AccessWorld } from "../access/helpers.js";
import { budget, budgetSetting } from "../helpers/budget.js";
import { runCli } from "../helpers/cli.js";

let w: AccessWorld;
beforeAll(async () => {
  w = await accessWorld();
  await provision(w, "hetzner", ["alice", "eve"]);
  await provision(w, "digitalocean", ["dora"]);
});
afterAll(async () => {
  await w?.cleanup();
});

const knownHosts = (): string => readFileSync(join(w.home.dir, "data", "automna", "known_hosts"), "utf8");

describe("automna ssh (Hetzner, DigitalOcean: the real ssh client)", () => {
  it("runs one command, passes its exit code on, and trusts only the host key learned at provision", async () => {
    const r = await runCli(["ssh", "alice", "--", "echo out; echo err >&2; hostname; exit 7"], { env: w.env });
    expect(r.stderr).toBe("err\n");
    expect(r.stdout).toBe("out\nautomna-alice\n");
    expect(r.code).toBe(7);
    const ok = await runCli(["ssh", "dora", "--", "true"], { env: w.env });
    expect(ok.code).toBe(0);
    // Provision made the key, cloud-init (the stand-in) installed it, and it is what is pinned.
    const status = await runCli(["status", "alice", "--json"], { env: w.env });
    const inst = status.json<{ instance: { addresses: { ipv4: string }; meta: { hostKeys: string[] } } }>().instance;
    expect(inst.meta.hostKeys).toHaveLength(1);
    expect(knownHosts()).toContain(`[${inst.addresses.ipv4}]:${SSH_PORT} ${inst.meta.hostKeys[0]}\n`);
    const { key } = await hostKeyOf(w, "alice");
    expect(w.sb.simHost(key)!.hostKeyPublic).toBe(inst.meta.hostKeys[0]);
    // The private half never reached state or the sandbox's request log.
    const store = readFileSync(join(w.home.dir, "data", "automna", "state.db")).toString("latin1");
    expect(store).not.toContain("PRIVATE KEY");
  });

  it("--timeout stops the command, says what timed out and exits 124 as timeout(1) does", async () => {
    const hang = Math.ceil(budget(20_000) / 1000);
    const r = await runCli(["ssh", "dora", "--timeout", budgetSetting(2000), "--", `sleep ${hang}`], { env: w.env });
    expect(r.code, r.stderr).toBe(124);
    expect(r.stderr).toMatch(/^Error: the command on dora\b.* did not finish within [\d.]+ s and was stopped \(--timeout\)$/m);
  });

  it("pipes stdin in and gets binary output back intact (DigitalOcean)", async () => {
    const blob = randomBytes(256 * 1024);
    const put = await runCli(["ssh", "dora", "--", 'D=${AUTOMNA_DATA:-/data}; cat > "$D/blob.bin" && sha256sum "$D/blob.bin"'], { env: w.env, stdin: blob });
    expect(put.code, put.stderr).toBe(0);
    expect(put.stdout.split(" ")[0]).toBe(createHash("sha256").update(blob).digest("hex"));
    const get = await runCli(["ssh", "dora", "--", 'cat "${AUTOMNA_DATA:-/data}/blob.bin"'], { env: w.env });
    expect(get.code).toBe(0);
    expect(Buffer.compare(get.stdoutBytes, blob)).toBe(0);
  });

  it("refuses a machine that answers with another host key, and says what to check", async () => {
    const { key, address } = await hostKeyOf(w, "eve");
    const real = w.sb.simHost(key)!;
    await real.close();
    // Someone else at eve's address and port, accepting the operator's key: only the host key differs.
    const impostor = await startHost({
      id: "impostor", address, sshPort: SSH_PORT, healthPort: null, rootDir: join(w.sb.dir, "impostor"),
      authorizedKeys: [readFileSync(`${w.keyFile}.pub`, "utf8").trim()], agent: { logIntervalMs: 60_000 },
    });
    try {
      const r = await runCli(["ssh", "eve", "--", "touch /tmp/should-not-run"], { env: w.env });
      expect(r.code).toBe(1);
      expect(r.stdout).toBe("");
      expect(r.stderr).toContain(`Error: the SSH host key of eve's Hetzner Cloud instance at [${address}]:${SSH_PORT} is not the one automna pinned when it created the machine; refusing to connect`);
      expect(r.stderr).toContain("Hint: if the machine was rebuilt or replaced outside automna, compare the fingerprint in its console output");
      const json = await runCli(["--json", "exec", "eve", "--", "true"], { env: w.env });
      expect(json.code).toBe(3);
      expect(json.json<{ error: { code: string } }[]>()[0]!.error.code).toBe("host_key_changed");
    } finally {
      await impostor.close();
    }
  });

  it("a destroyed machine's pin is removed; a re-created one gets a new key, pinned again at provision", async () => {
    const before = (await runCli(["status", "dora", "--json"], { env: w.env })).json<{ instance: { meta: { hostKeys: string[] } } }>().instance.meta.hostKeys;
    expect(knownHosts()).toContain(before[0]);
    expect((await runCli(["destroy", "dora", "--yes"], { env: w.env })).code).toBe(0);
    // A destroyed machine's pin goes with it.
    expect(knownHosts()).not.toContain(before[0]);
    await provision(w, "digitalocean", ["dora"]);
    const inst = (await runCli(["status", "dora", "--json"], { env: w.env })).json<{ instance: { addresses: { ipv4: string }; meta: { hostKeys: string[] } } }>().instance;
    expect(inst.meta.hostKeys).toHaveLength(1);
    expect(inst.meta.hostKeys[0]).not.toBe(before[0]);
    expect(knownHosts()).toContain(`[${inst.addresses.ipv4}]:${SSH_PORT} ${inst.meta.hostKeys[0]}\n`);
    expect((await runCli(["ssh", "dora", "--", "hostname"], { env: w.env })).stdout).toBe("automna-dora\n");
  });

  it("rejects bad input with exit 2: bad or unknown users, users not provisioned yet", async () => {
    const unknown = await runCli(["ssh", "nobody", "--", "true"], { env: w.env });
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toContain("Error: nobody has no instance");
    expect(unknown.stderr).toContain("Hint: automna provision nobody");
    const bad = await runCli(["ssh", "Not_A_User"], { env: w.env });
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain('invalid user id "Not_A_User"');
    const store = await SqliteStore.open(w.home.env.XDG_DATA_HOME + "/automna/state.db");
    await store.createInstance({
      user: "pending", role: "live", provider: "hetzner", region: "fsn1", size: "cx22", image: "agent:1", resources: {}, addresses: {},
      status: "provisioning", opId: "op_pending", meta: {},
    });
    await store.close();
    const pending = await runCli(["ssh", "pending", "--", "true"], { env: w.env });
    expect(pending.code).toBe(2);
    expect(pending.stderr).toContain("Error: not ready to reach: pending (provisioning)");
    const timeout = await runCli(["ssh", "alice", "--timeout", "soon", "--", "true"], { env: w.env });
    expect(timeout.code).toBe(2);
    expect(timeout.stderr).toContain("--timeout must be a duration");
  });
});
