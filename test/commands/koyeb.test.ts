/**
 * Koyeb end to end against its sandbox stand-in: secrets and env through deployments, exec and
 * `ssh -- cmd` over the exec WebSocket (bytes both ways), logs through the query API, bad
 * placements refused before anything is made, and the faults (a 429 storm, an exec stream
 * dropped mid-command). The generic fleet tests (provision, list, status, doctor, destroy, bulk,
 * a lost create adopted) run on Koyeb too, from its manifest (fleet-sandbox.test.ts,
 * provision-resume.test.ts).
 */
import { createHash, randomBytes } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { makeHome, runCli } from "../helpers/cli.js";
import { startFleetSandbox, type FleetSandbox } from "../helpers/fleet-sandbox.js";

let fs: FleetSandbox;
const home = makeHome();
beforeAll(async () => {
  fs = await startFleetSandbox();
});
afterAll(async () => {
  home.cleanup();
  await fs?.close();
});

const PLACE = ["--provider", "koyeb", "--region", "fra", "--size", "micro"];
const run = (args: string[], extra: Record<string, string> = {}, stdin?: string | Buffer) => runCli(args, { env: fs.env(home, extra), ...(stdin === undefined ? {} : { stdin }) });
const koyebPosts = (from: number) => fs.requestsSince(from, "koyeb").filter((r) => r.method === "POST");
const digest = (v: string) => createHash("sha256").update(v).digest("hex").slice(0, 12);

describe("Koyeb: provision, env and secrets", () => {
  it("provisions with --env and --secret: a WORKER service, always on, the volume at /data, the secret referenced by name", async () => {
    const made = await run(["provision", "kai", ...PLACE, "--env", "LEVEL=info", "--secret", "API_KEY", "--json"], { API_KEY: "sk-first" });
    expect(made.code, made.stderr).toBe(0);
    const status = (await run(["status", "kai", "--json"])).json<{ instance: { resources: Record<string, string> }; live: { status: string } }>();
    expect(status.live.status).toBe("running");
    const service = await fs.api("koyeb", "GET", `/v1/services/${status.instance.resources.service}`);
    const deployment = await fs.api("koyeb", "GET", `/v1/deployments/${service.body.service.latest_deployment_id}`);
    const def = deployment.body.deployment.definition;
    expect(def).toMatchObject({ type: "WORKER", regions: ["fra"], instance_types: [{ type: "micro" }], scalings: [{ min: 1, max: 1 }], volumes: [{ id: status.instance.resources.volume, path: "/data" }] });
    expect(def.env).toContainEqual({ key: "LEVEL", value: "info" });
    expect(def.env).toContainEqual({ key: "API_KEY", secret: "automna-kai-API_KEY" });
    // The secret's value is nowhere in the definition or automna's output.
    expect(JSON.stringify(def)).not.toContain("sk-first");
    expect(made.stdout + made.stderr).not.toContain("sk-first");
  });

  it("env list shows names and digests; set and unset make a new deployment", async () => {
    const listed = await run(["env", "list", "kai", "--json"]);
    expect(listed.json()).toEqual(expect.arrayContaining([{ name: "LEVEL", digest: digest("info") }, { name: "API_KEY", digest: digest("sk-first") }]));
    const before = (await run(["status", "kai", "--json"])).json<{ instance: { resources: Record<string, string> } }>().instance.resources.service;
    const deployments = async () => (await fs.api("koyeb", "GET", `/v1/deployments?service_id=${before}`)).body.count as number;
    const count = await deployments();
    const set = await run(["env", "set", "kai", "--secret", "API_KEY", "--json"], { API_KEY: "sk-second" });
    expect(set.code, set.stderr).toBe(0);
    expect(await deployments()).toBe(count + 1);
    expect((await run(["env", "list", "kai", "--json"])).json()).toContainEqual({ name: "API_KEY", digest: digest("sk-second") });
    const unset = await run(["env", "unset", "kai", "--name", "LEVEL", "--json"]);
    expect(unset.code, unset.stderr).toBe(0);
    expect((await run(["env", "list", "kai", "--json"])).json<{ name: string }[]>().map((v) => v.name)).not.toContain("LEVEL");
  });
});

describe("Koyeb: commands over the exec WebSocket", () => {
  it("ssh -- cmd: output, stderr, exit code; binary stdin survives byte for byte", async () => {
    const r = await run(["ssh", "kai", "--", "echo hi; echo oops >&2; exit 4"]);
    expect(r).toMatchObject({ code: 4, stdout: "hi\n", stderr: "oops\n" });
    const bytes = randomBytes(200_000);
    const sum = createHash("sha256").update(bytes).digest("hex");
    const put = await run(["ssh", "kai", "--", "cat > /data/blob && sha256sum /data/blob"], {}, bytes);
    expect(put.code, put.stderr).toBe(0);
    expect(put.stdout.split(" ")[0]).toBe(sum);
    const exec = await run(["--json", "exec", "kai", "--", "wc", "-c", "/data/blob"]);
    expect(exec.json<{ user: string; provider: string; stdout: string }[]>()[0]).toMatchObject({ user: "kai", provider: "koyeb", stdout: "200000 /data/blob\n" });
  });

  it("the exec stream is interactive, as koyeb-cli's shell needs: the command starts at once and answers each stdin frame", async () => {
    const service = (await run(["status", "kai", "--json"])).json<{ instance: { resources: { service: string } } }>().instance.resources.service;
    const ws = new WebSocket(`${fs.sandbox.urls.koyeb.replace(/^http/, "ws")}/v1/streams/instances/exec`, ["Bearer", fs.sandbox.token]);
    const frames: { result?: { stdout?: { data: string }; exited?: boolean; exit_code?: number }; error?: unknown }[] = [];
    let output = "";
    let wake = () => {};
    ws.addEventListener("message", (e) => {
      const frame = JSON.parse(String(e.data)) as (typeof frames)[number];
      frames.push(frame);
      output += Buffer.from(frame.result?.stdout?.data ?? "", "base64").toString();
      wake();
    });
    const ended = () => frames.some((f) => f.error || f.result?.exited);
    /** Resolves once `done` holds or the command has ended (then the expectations below say what was wrong). */
    const until = (done: () => boolean) => new Promise<void>((resolve) => {
      wake = () => (done() || ended()) && resolve();
      wake();
    });
    const send = (text: string) => ws.send(JSON.stringify({ body: { stdin: { data: Buffer.from(text).toString("base64") } } }));
    await new Promise((resolve) => ws.addEventListener("open", resolve));
    try {
      ws.send(JSON.stringify({ id: service, idType: "SERVICE_ID", body: { command: ["sh", "-c", "echo ready; read a; echo got:$a; read b; echo got:$b"], disableTty: true } }));
      // Each answer comes before the next line is sent, and stdin is never closed: a stand-in that
      // waited for the whole input would never answer.
      await until(() => output.includes("ready\n"));
      send("one\n");
      await until(() => output.includes("got:one\n"));
      send("two\n");
      await until(ended);
      expect([output, frames.at(-1)?.result?.exit_code]).toEqual(["ready\ngot:one\ngot:two\n", 0]);
    } finally {
      ws.close(); // a failed expectation must not leave the command waiting on its input
    }
  });

  it("a stream dropped mid-exec is reported, not waited on", async () => {
    fs.sandbox.setFaults({ rules: [{ provider: "koyeb", kind: "reset", commit: true, path: "/v1/streams/instances/exec", count: 1 }] });
    try {
      const r = await run(["ssh", "kai", "--", "echo never"]);
      expect(r.code).toBe(1);
      expect(r.stderr).toContain("closed before the command finished");
    } finally {
      fs.sandbox.setFaults({});
    }
  });

  it("logs --tail through the query API", async () => {
    await fs.sandbox.settled();
    const r = await run(["logs", "kai", "--tail", "3", "--json"]);
    expect(r.code, r.stderr).toBe(0);
    const lines = r.stdout.trim().split("\n").map((l) => JSON.parse(l) as { user: string; provider: string });
    expect(lines).toHaveLength(3);
    expect(lines.every((l) => l.user === "kai" && l.provider === "koyeb")).toBe(true);
  });
});

describe("Koyeb: bad input refused before anything is made (exit 2)", () => {
  it.each([
    ["a region without volumes", ["--region", "sin", "--size", "micro"], "valid regions: fra, par, was"],
    ["an Eco instance type", ["--region", "fra", "--size", "eco-micro"], "valid sizes: nano, micro"],
    ["the free instance type", ["--region", "fra", "--size", "free"], "valid sizes: nano, micro"],
  ])("%s", async (_what, flags, hint) => {
    const from = fs.sandbox.requests().length;
    const r = await run(["provision", "nobody", "--provider", "koyeb", ...flags]);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain(hint);
    expect(koyebPosts(from)).toEqual([]);
    expect((await run(["list", "--json"])).json<{ user: string }[]>().map((x) => x.user)).not.toContain("nobody");
  });
});

describe("Koyeb: a 429 storm", () => {
  it("is waited out: the provision completes with one app and one service", async () => {
    fs.sandbox.setFaults({ rules: [{ provider: "koyeb", kind: "rate_limit", count: 5 }] });
    try {
      const r = await run(["provision", "stormy", ...PLACE, "--json"]);
      expect(r.code, r.stderr).toBe(0);
    } finally {
      fs.sandbox.setFaults({});
    }
    const world = (await fs.admin("GET", "/world")).body;
    const app = (world.koyeb.apps as { id: string; name: string }[]).filter((a) => a.name === "automna-stormy");
    expect(app).toHaveLength(1);
    expect((world.koyeb.services as { app: string }[]).filter((s) => s.app === app[0]!.id)).toHaveLength(1);
  });
});

describe("Koyeb: prices and costs", () => {
  it("pricing refresh reads the live instance catalog (no Eco or free type); cost-report counts the Koyeb users", async () => {
    const refresh = await run(["pricing", "refresh", "--provider", "koyeb", "--json"]);
    expect(refresh.code, refresh.stderr).toBe(0);
    expect(refresh.json<{ refreshed: { provider: string; plans: number }[] }>().refreshed).toEqual([expect.objectContaining({ provider: "koyeb" })]);
    const listed = (await run(["pricing", "list", "--provider", "koyeb", "--json"])).json<{ plan: string; monthlyPrice: number }[]>();
    expect(listed.find((e) => e.plan === "micro")?.monthlyPrice).toBe(5.36);
    expect(listed.map((e) => e.plan)).not.toContain("free");
    const cost = await run(["cost-report", "--json"]);
    expect(cost.code, cost.stderr).toBe(0);
    const report = cost.json<{ spend: { groups: { key: string; users: number }[] } }>();
    expect(report.spend.groups.find((g) => g.key === "koyeb")?.users).toBeGreaterThanOrEqual(2);
  });
});
