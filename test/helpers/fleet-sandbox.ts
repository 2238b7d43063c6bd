import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { startSandbox, type RunningSandbox, type SandboxOptions, type SandboxRequest } from "../../src/sandbox/index.js";
import type { ProviderId } from "../../src/providers/catalog.js";
import type { FixtureShape } from "../../src/providers/manifest.js";
import { MANIFESTS } from "../../src/providers/manifests.js";
import type { Sandbox as Home } from "./cli.js";
import { sshOptionsForLoad } from "./budget.js";

/**
 * The fleet commands against a real sandbox on loopback: one sandbox per test file, fast
 * transitions, rate limits on but refilling `RATE_SCALE` times faster on both sides (sandbox and
 * client), so a test that is not about timing does not wait on Hetzner's 1 request/s.
 */
export const RATE_SCALE = 100;
export const IMAGE = "ghcr.io/automna/agent:1";

/** A provider as the generic fleet tests drive it: its manifest's fixture shape, token and URL variables. */
export interface ProviderCase extends FixtureShape {
  id: ProviderId;
  tokenEnv: string;
  urlEnv: string;
}

/** Every provider the manifests list (src/providers/manifests.ts). */
export const PROVIDERS: readonly ProviderCase[] = MANIFESTS.filter((m) => m.fixture.fleet !== false).map((m) => ({ id: m.id, ...m.fixture, tokenEnv: m.token.env, urlEnv: m.url.env }));

export function placementFlags(p: ProviderCase): string[] {
  return ["--provider", p.id, "--region", p.region, "--size", p.size];
}

export interface JsonResponse {
  status: number;
  // Provider wire JSON, walked freely by tests; what they assert is what checks it.
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  body: any;
}

export interface FleetSandbox {
  sandbox: RunningSandbox;
  /** The CLI's environment for a home: sandbox URLs and token, fast polling, scaled budgets. */
  env(home: Home, extra?: Record<string, string>): Record<string, string>;
  /** A request to one provider's API with the sandbox token (what a console or script would do). */
  api(provider: ProviderCase["id"], method: string, path: string, body?: unknown): Promise<JsonResponse>;
  /** A request to the admin API (deletes behind automna's back, the request log). */
  admin(method: string, path: string): Promise<JsonResponse>;
  /** Requests received since `from` (an index into the log), of one provider. */
  requestsSince(from: number, provider: ProviderCase["id"]): SandboxRequest[];
  close(): Promise<void>;
}

export async function startFleetSandbox(options: Partial<SandboxOptions> = {}): Promise<FleetSandbox> {
  const dir = mkdtempSync(join(tmpdir(), "automna-fleet-"));
  // Hosts' SSH on a high port (22 needs root and may be taken).
  const sandbox = await startSandbox({ actionDelayMs: 20, rateLimitScale: RATE_SCALE, sshPort: 22026, ...options, dir });
  const call = async (url: string, method: string, body?: unknown, token?: string): Promise<JsonResponse> => {
    const headers: Record<string, string> = token ? { authorization: `Bearer ${token}` } : {};
    if (body !== undefined) headers["content-type"] = "application/json";
    for (let attempt = 0; ; attempt++) {
      const res = await fetch(url, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
      const text = await res.text();
      // The test's own calls share the token's budget with automna's: wait out a 429 (the
      // budgets refill RATE_SCALE times faster, so well before the Retry-After in seconds).
      if (res.status === 429 && attempt < 10) {
        await new Promise((r) => setTimeout(r, 200));
        continue;
      }
      return { status: res.status, body: text ? JSON.parse(text) : null };
    }
  };
  return {
    sandbox,
    env: (home, extra = {}) => ({
      ...home.env, ...sandbox.env(), AUTOMNA_IMAGE: IMAGE, AUTOMNA_POLL_MS: "10", AUTOMNA_RATE_SCALE: String(RATE_SCALE), ...sshOptionsForLoad(), ...extra,
    }),
    api: (provider, method, path, body) => call(`${sandbox.urls[provider]}${path}`, method, body, sandbox.token),
    admin: (method, path) => call(`${sandbox.urls.admin}${path}`, method),
    requestsSince: (from, provider) => sandbox.requests().slice(from).filter((r) => r.provider === provider),
    close: async () => {
      await sandbox.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** Creates an automna-marked instance straight through the provider's API: state will not know it. */
export async function makeOrphan(fs: FleetSandbox, p: ProviderCase, user: string): Promise<void> {
  const name = `automna-${user}`;
  const ok = (r: JsonResponse): void => {
    if (r.status >= 300) throw new Error(`orphan ${p.id}: ${r.status} ${JSON.stringify(r.body)}`);
  };
  if (p.id === "hetzner") {
    ok(await fs.api("hetzner", "POST", "/servers", {
      name, server_type: p.size, location: p.region, image: "ubuntu-24.04", labels: { "automna.managed": "true", "automna.user": user, "automna.op": "op_console" },
    }));
  } else if (p.id === "digitalocean") {
    ok(await fs.api("digitalocean", "POST", "/v2/droplets", { name, region: p.region, size: p.size, image: "ubuntu-24-04-x64", tags: ["automna", `automna-user-${user}`] }));
  } else if (p.id === "koyeb") {
    const app = await fs.api("koyeb", "POST", "/v1/apps", { name });
    ok(app);
    ok(await fs.api("koyeb", "POST", "/v1/services", {
      app_id: app.body.app.id, name: "agent",
      definition: {
        type: "WORKER", docker: { image: IMAGE }, regions: [p.region], instance_types: [{ type: p.size }], scalings: [{ min: 1, max: 1 }],
        env: [{ key: "AUTOMNA_USER", value: user }, { key: "AUTOMNA_OP", value: "op_console" }],
      },
    }));
  } else {
    ok(await fs.api("fly", "POST", "/v1/apps", { name, org_slug: "personal" }));
    ok(await fs.api("fly", "POST", `/v1/apps/${name}/machines`, {
      region: p.region, config: { image: IMAGE, guest: { cpu_kind: "shared", cpus: 1, memory_mb: 2048 }, metadata: { automna_managed: "true", automna_user: user } },
    }));
  }
}

/** Deletes an instance's resource through the admin API, as if removed in the provider's console. */
export async function deleteBehindBack(fs: FleetSandbox, p: ProviderCase, resources: Record<string, string>): Promise<void> {
  const path = p.id === "hetzner" ? `/hetzner/servers/${resources.server}` : p.id === "digitalocean" ? `/digitalocean/droplets/${resources.droplet}` : `/${p.id}/apps/${resources.app}`;
  const r = await fs.admin("DELETE", path);
  if (r.status !== 200) throw new Error(`admin DELETE ${path}: ${r.status}`);
}

/** Powers an instance off through the provider's API (state still says running). */
export async function powerOffBehindBack(fs: FleetSandbox, p: ProviderCase, resources: Record<string, string>): Promise<void> {
  const r = p.id === "hetzner" ? await fs.api("hetzner", "POST", `/servers/${resources.server}/actions/poweroff`)
    : p.id === "digitalocean" ? await fs.api("digitalocean", "POST", `/v2/droplets/${resources.droplet}/actions`, { type: "power_off" })
      : p.id === "koyeb" ? await fs.api("koyeb", "POST", `/v1/services/${resources.service}/pause`, {})
        : await fs.api("fly", "POST", `/v1/apps/${resources.app}/machines/${resources.machine}/stop`, {});
  if (r.status >= 300) throw new Error(`power off ${p.id}: ${r.status} ${JSON.stringify(r.body)}`);
}

/** How many live resources of the provider carry this user's marker, read from the sandbox's world. */
export async function countAtProvider(fs: FleetSandbox, p: ProviderCase, user: string): Promise<number> {
  const world = (await fs.admin("GET", "/world")).body;
  if (p.id === "hetzner") return (world.hetzner.servers as { labels: Record<string, string> }[]).filter((s) => s.labels["automna.user"] === user).length;
  if (p.id === "digitalocean") return (world.digitalocean.droplets as { tags: string[] }[]).filter((d) => d.tags.includes(`automna-user-${user}`)).length;
  if (p.id === "koyeb") {
    const app = (world.koyeb.apps as { id: string; name: string }[]).find((a) => a.name === `automna-${user}`);
    return (world.koyeb.services as { app: string }[]).filter((s) => s.app === app?.id).length;
  }
  return (world.fly.machines as { state: string; metadata: Record<string, string> }[]).filter((m) => m.state !== "destroyed" && m.metadata.automna_user === user).length;
}

/** Polls until `check` is true (state transitions in the sandbox take a few ms). */
export { until } from "./budget.js";
