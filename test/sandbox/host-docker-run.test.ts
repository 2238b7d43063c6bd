import { readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { deliveryScript } from "../../src/access/deliver-secrets.js";
import type { HostHandle } from "../../src/sandbox/host/index.js";
import { makeWorkspace, ssh, testHost, until, type Workspace } from "./host-helpers.js";

/** `docker rm` and `docker run` on a sandbox host, and automna's secret delivery script run on one. */
let ws: Workspace;
let host: HostHandle;
const ADDRESS = "127.77.200.40";

beforeAll(async () => {
  ws = makeWorkspace();
  host = await testHost(ws, "docker-run", ADDRESS);
  await until(async () => ((await host.logs({ tail: 3 })).length >= 3 ? true : undefined));
});
afterAll(async () => {
  await host?.close();
  ws?.cleanup();
});

const inspect = async (h: HostHandle, template: string) => (await ssh(ws, h, ["docker", "inspect", "-f", template, "automna-agent"])).stdout.toString().trim();
const lastSeq = async (h: HostHandle) => Number(/seq=(\d+)/.exec((await h.logs({ tail: 1 }))[0]?.line ?? "")?.[1]);

describe("docker rm and run", () => {
  test("rm refuses a running container without -f; rm -f removes it; run re-creates the same agent with a new id, image and env", async () => {
    const firstId = await inspect(host, "{{.Id}}");
    const refused = await ssh(ws, host, "docker rm automna-agent");
    expect(refused.code).toBe(1);
    expect(refused.stderr).toBe('Error response from daemon: cannot remove container "/automna-agent": container is running: stop the container before removing or force remove\n');

    const seqBefore = await lastSeq(host);
    const removed = await ssh(ws, host, "docker rm -f automna-agent");
    expect([removed.code, removed.stdout.toString()]).toEqual([0, "automna-agent\n"]);
    expect(host.agentRunning()).toBe(false);
    expect((await ssh(ws, host, "docker ps -a -q")).stdout.toString()).toBe("");
    const gone = await ssh(ws, host, "docker inspect automna-agent");
    expect([gone.code, gone.stderr]).toEqual([1, "Error: No such object: automna-agent\n"]);
    expect((await ssh(ws, host, "docker rm automna-agent")).stderr).toBe("Error response from daemon: No such container: automna-agent\n");

    const script = [
      'printf "# comment\\n\\nPLAIN=1\\nTOKEN=s3cr3t-value-42\\n" > "$AUTOMNA_ENV_FILE"',
      'docker run -d --name automna-agent --restart always -v /var/lib/automna/data:/data -p 8080:8080 --env-file "$AUTOMNA_ENV_FILE" -e EXTRA=x ghcr.io/automna/agent:2',
    ].join(" && ");
    const ran = await ssh(ws, host, script);
    expect(ran.stderr).toBe("");
    expect(ran.code).toBe(0);
    const newId = ran.stdout.toString().trim();
    expect(newId).toMatch(/^[0-9a-f]{64}$/);
    expect(newId).not.toBe(firstId);
    expect(host.agentRunning()).toBe(true);
    expect(await inspect(host, "{{.Id}} {{.Config.Image}} {{.State.Status}}")).toBe(`${newId} ghcr.io/automna/agent:2 running`);
    expect(JSON.parse(await inspect(host, "{{json .Config.Env}}"))).toEqual(["PLAIN=1", "TOKEN=s3cr3t-value-42", "EXTRA=x"]);
    // The same agent: its log carries on (seq increasing) and its health answers again.
    expect(await lastSeq(host)).toBeGreaterThan(seqBefore);
    expect((await fetch(`http://${host.address}:${host.healthPort()}/healthz`)).status).toBe(200);
    // The container record on disk keeps the names, never the values.
    const record = readFileSync(join(host.rootDir, ".host", "agent.json"), "utf8");
    expect(JSON.parse(record)).toMatchObject({ id: newId, image: "ghcr.io/automna/agent:2", envNames: ["PLAIN", "TOKEN", "EXTRA"] });
    expect(record).not.toContain("s3cr3t-value-42");

    const twice = await ssh(ws, host, "docker run -d --name automna-agent --env-file \"$AUTOMNA_ENV_FILE\" img");
    expect(twice.code).toBe(125);
    expect(twice.stderr).toBe(`docker: Error response from daemon: Conflict. The container name "/automna-agent" is already in use by container "${newId}". You have to remove (or rename) that container to be able to reuse that name.\nSee 'docker run --help'.\n`);
    const missing = await ssh(ws, host, "docker rm -f automna-agent >/dev/null; docker run -d --name automna-agent --env-file /nonexistent/x.env img");
    expect([missing.code, missing.stderr]).toEqual([125, "docker: open /nonexistent/x.env: no such file or directory.\nSee 'docker run --help'.\n"]);
  });

  test("automna's delivery script writes a 0600 env file from stdin and re-creates the container; a sandbox restart keeps it", async () => {
    const r = await ssh(ws, host, deliveryScript("ghcr.io/automna/agent:3", 8080, 24), { input: "A=1\nAPI_KEY=k-123456789\n" });
    expect(r.stderr).toBe("");
    expect(r.code).toBe(0);
    const file = join(host.rootDir, ".host", "agent.env");
    expect(readFileSync(file, "utf8")).toBe("A=1\nAPI_KEY=k-123456789\n");
    expect(statSync(file).mode & 0o777).toBe(0o600);
    expect(JSON.parse(await inspect(host, "{{json .Config.Env}}"))).toEqual(["A=1", "API_KEY=k-123456789"]);
    // Idempotent: again with other values replaces the file and the container.
    expect((await ssh(ws, host, deliveryScript("ghcr.io/automna/agent:3", 8080, 4), { input: "A=2\n" })).code).toBe(0);
    expect(readFileSync(file, "utf8")).toBe("A=2\n");
    expect(JSON.parse(await inspect(host, "{{json .Config.Env}}"))).toEqual(["A=2"]);
    // Input cut short (a connection lost mid-way): refused, the file and the container as they were.
    const id = await inspect(host, "{{.Id}}");
    const cut = await ssh(ws, host, deliveryScript("ghcr.io/automna/agent:3", 8080, 40), { input: "A=3\nAPI_KE" });
    expect([cut.code, cut.stderr]).toEqual([65, "the environment arrived incomplete; nothing changed\n"]);
    expect(readFileSync(file, "utf8")).toBe("A=2\n");
    expect(await inspect(host, "{{.Id}}")).toBe(id);

    // The sandbox process restarts: the container (image, env names) is still there and runs.
    await host.close();
    host = await testHost(ws, "docker-run", ADDRESS);
    expect(host.agentRunning()).toBe(true);
    expect(await inspect(host, "{{.Config.Image}} {{json .Config.Env}}")).toBe('ghcr.io/automna/agent:3 ["A"]');
  });
});
