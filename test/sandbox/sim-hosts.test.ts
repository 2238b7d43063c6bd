import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { readLog } from "../../src/sandbox/host/agent-log.js";
import { generateHostKeyPair } from "../../src/access/host-key-gen.js";
import { renderUserData } from "../../src/providers/vm/cloud-init.js";
import { hostKeyFromUserData } from "../../src/sandbox/sim-hosts.js";
import { client, eventually, sandbox, type Body, type Sandbox } from "./helpers.js";

describe("host keys in cloud-init user-data", () => {
  it("automna's user-data carries the key as cloud-init's ssh_keys, and the stand-in reads it back", () => {
    const key = generateHostKeyPair();
    const text = renderUserData({ user: "alice", opId: "op_1", image: "img", env: {}, health: { port: 8080, path: "/healthz" }, hostKey: key }, 32 * 1024);
    expect(text).toContain("ssh_genkeytypes: [ed25519]\n");
    expect(text).toContain(`  ed25519_public: ${JSON.stringify(key.publicKey)}\n`);
    expect(hostKeyFromUserData(text)).toBe(key.privateKey.reveal());
    expect(renderUserData({ user: "a", opId: "o", image: "i", env: {}, health: { port: 1, path: "/" } }, 32 * 1024)).not.toContain("ssh_keys");
  });

  it("also reads a YAML block scalar, and nothing from user-data without keys", () => {
    const pem = "-----BEGIN OPENSSH PRIVATE KEY-----\nAAAA\nBBBB\n-----END OPENSSH PRIVATE KEY-----\n";
    const block = `#cloud-config\nssh_keys:\n  ed25519_private: |\n${pem.trimEnd().split("\n").map((l) => `    ${l}`).join("\n")}\n  ed25519_public: ssh-ed25519 AAAA\nruncmd: []\n`;
    expect(hostKeyFromUserData(block)).toBe(pem);
    expect(hostKeyFromUserData("#cloud-config\nruncmd: []\n")).toBeUndefined();
    expect(hostKeyFromUserData(null)).toBeUndefined();
  });
});

describe("agent log", () => {
  it("reads a log of 200,000 lines whole (docker logs without --tail on a big log)", async () => {
    const dir = mkdtempSync(join(tmpdir(), "automna-biglog-"));
    try {
      const file = join(dir, "agent.log");
      const lines = Array.from({ length: 200_000 }, (_, i) => `2026-11-29T12:00:00.${String(i).padStart(9, "0")}Z line ${i}`);
      writeFileSync(file, `${lines.join("\n")}\n`);
      const entries = await readLog([`${file}.1`, file], {});
      expect(entries).toHaveLength(200_000);
      expect(entries.at(-1)).toEqual({ time: "2026-11-29T12:00:00.000199999Z", line: "line 199999" });
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe("Fly exec stand-in (POST /v1/apps/{app}/machines/{id}/exec)", () => {
  let sb: Sandbox;
  let api: ReturnType<typeof client>;
  let machine: string;
  beforeAll(async () => {
    sb = await sandbox({ sshPort: 22024, rateLimitScale: 100, agent: { logIntervalMs: 50, seedBytes: 1024 } });
    api = client(sb.urls.fly, sb.token);
    await api("POST", "/v1/apps", { app_name: "automna-x", name: "automna-x", org_slug: "personal" });
    const m = await api<Body>("POST", "/v1/apps/automna-x/machines", { region: "ams", config: { image: "img:1" } });
    machine = m.body.id as string;
    await eventually(async () => (await api<Body>("GET", `/v1/apps/automna-x/machines/${machine}`)).body.state === "started");
    await sb.settled();
  });
  afterAll(async () => sb?.cleanup());

  it("runs argv without a shell's word splitting and answers {exit_code, stdout, stderr}", async () => {
    const res = await api<Body>("POST", `/v1/apps/automna-x/machines/${machine}/exec`, { command: ["sh", "-c", 'printf "%s|" "$@"; cat; echo err >&2; exit 3', "sh", "a b", "*"], stdin: "in\n", timeout: 10 });
    expect(res.status).toBe(200);
    expect(res.body).toEqual({ exit_code: 3, stdout: "a b|*|in\n", stderr: "err\n" });
    const killed = await api<Body>("POST", `/v1/apps/automna-x/machines/${machine}/exec`, { command: ["sleep", "20"], timeout: 1 });
    expect(killed.body.exit_signal).toBeGreaterThan(0);
    expect(killed.body.exit_code).toBeGreaterThan(128);
  });

  it("validates the request and refuses a machine that is not started", async () => {
    expect((await api<Body>("POST", `/v1/apps/automna-x/machines/${machine}/exec`, { command: [] })).status).toBe(400);
    expect((await api<Body>("POST", `/v1/apps/automna-x/machines/${machine}/exec`, { command: ["true"], stdin: 5 })).status).toBe(400);
    expect((await api<Body>("POST", "/v1/apps/automna-x/machines/nope/exec", { command: ["true"] })).status).toBe(404);
    await api("POST", `/v1/apps/automna-x/machines/${machine}/stop`, {});
    await eventually(async () => (await api<Body>("GET", `/v1/apps/automna-x/machines/${machine}`)).body.state === "stopped");
    const stopped = await api<Body>("POST", `/v1/apps/automna-x/machines/${machine}/exec`, { command: ["true"] });
    expect(stopped.status).toBe(400);
    expect(stopped.body.error).toContain("is stopped, not started");
  });

  it("serves the machine's agent output through the logs API", async () => {
    const res = await api<Body>("GET", `/api/v1/apps/automna-x/logs?instance=${machine}`);
    const messages = (res.body.data as Body[]).map((d) => d.attributes.message as string);
    expect(messages.some((m) => /component=gateway msg="automna agent starting"/.test(m))).toBe(true);
    expect(messages.some((m) => /seq=\d+$/.test(m))).toBe(true);
  });
});
