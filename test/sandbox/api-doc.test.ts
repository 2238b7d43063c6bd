/**
 * src/sandbox/API.md, what each stand-in implements and refuses, is generated here from the
 * route tables themselves (and the specs in ../shared/specs for the operation names), so it cannot
 * drift: a route added or removed without the document fails this test. After a deliberate
 * change: `npx vitest run test/sandbox/api-doc.test.ts -u`.
 */
import { afterAll, beforeAll, expect, it } from "vitest";
import { cloudflareRoutes } from "../../src/sandbox/cloudflare-routes.js";
import { CloudflareWorld } from "../../src/sandbox/cloudflare-state.js";
import { REFUSED_HEADERS, S3_OPERATIONS, S3_REFUSED } from "../../src/sandbox/s3-operations.js";
import { loadSpec, operations, type Doc } from "../conformance/openapi-doc.js";
import { sandbox, type Sandbox } from "./helpers.js";

interface ApiRoute { method: string; pattern: string; values?: Record<string, readonly string[]> }

interface Api {
  title: string;
  spec: string;
  /** What the routes' paths carry before the spec's paths. */
  prefix: string;
  routes: readonly ApiRoute[];
  refusal: string;
}

let sb: Sandbox;
beforeAll(async () => {
  sb = await sandbox({ simulatedHosts: false, addressBase: "127.96" });
});
afterAll(async () => {
  await sb?.cleanup();
});

/** Spec operations (`GET /servers`) a route serves: same shape, its parameters standing for spec parameters or, where it lists them, literals. */
function served(route: ApiRoute, prefix: string, doc: Doc): { path: string; method: string; id: string }[] {
  if (!route.pattern.startsWith(prefix)) return [];
  const parts = route.pattern.slice(prefix.length).split("/");
  const out: { path: string; method: string; id: string }[] = [];
  for (const { path, method, op } of operations(doc)) {
    if (method !== route.method.toLowerCase()) continue;
    const spec = path.split("/");
    if (spec.length !== parts.length) continue;
    const fits = parts.every((seg, i) => {
      const s = spec[i]!;
      if (!seg.startsWith(":")) return seg === s;
      if (s.startsWith("{")) return true;
      return route.values?.[seg.slice(1)]?.includes(s) ?? false;
    });
    if (fits) out.push({ path, method, id: String(op.operationId ?? `${method} ${path}`) });
  }
  return out;
}

function section(api: Api): string {
  const doc = loadSpec(api.spec);
  const used = new Set<string>();
  const rows = api.routes.map((route) => {
    const ops = served(route, api.prefix, doc);
    for (const op of ops) used.add(`${op.method} ${op.path}`);
    const values = Object.entries(route.values ?? {}).map(([k, v]) => ` (${k}: ${v.join(", ")})`).join("");
    return `| ${route.method} | \`${route.pattern}\`${values} | ${ops.length ? ops.map((o) => `\`${o.id}\``).join(", ") : "not in the stored spec"} |`;
  });
  const rest = [...operations(doc)].filter(({ path, method }) => !used.has(`${method} ${path}`));
  const groups = new Map<string, number>();
  for (const { path } of rest) {
    const group = path.split("/").filter((s) => s && !/^v\d$/.test(s))[0] ?? "/";
    groups.set(group, (groups.get(group) ?? 0) + 1);
  }
  const total = [...operations(doc)].length;
  return [
    `## ${api.title}`,
    "",
    `Spec: \`${api.spec}\`. Implemented (${used.size} of its ${total} operations):`,
    "",
    "| method | path | spec operation |",
    "|---|---|---|",
    ...rows,
    "",
    `Refused: the other ${rest.length} operations, ${api.refusal}. By resource: ${[...groups].sort(([a], [b]) => a.localeCompare(b)).map(([g, n]) => `${g} (${n})`).join(", ")}.`,
    "",
  ].join("\n");
}

function s3Section(): string {
  return [
    "## S3 object storage",
    "",
    "No OpenAPI spec; operations as S3 names them. Implemented:",
    "",
    "| operation | method | on | query parameters |",
    "|---|---|---|---|",
    ...S3_OPERATIONS.map((o) => `| ${o.name} | ${o.method}${o.header ? ` with \`${o.header}\`` : ""} | ${o.level} | ${o.params.map((p) => `\`${p}\``).join(", ") || "-"} |`),
    "",
    `Refused with 501 \`NotImplemented\`: ${S3_REFUSED.map((r) => (r.methods.length > 1 ? `${r.methods.join("/")} ${r.name}` : r.name)).join("; ")}; any other query parameter.`,
    "",
    `Refused headers (501 \`NotImplemented\` naming the header): ${REFUSED_HEADERS.map((h) => `\`${h.prefix}${h.prefix.endsWith("-") ? "*" : ""}\`${h.allowed ? ` (except ${h.allowed.map((a) => `\`${a}\``).join(", ")})` : ""}`).join(", ")}.`,
    "",
  ].join("\n");
}

it("src/sandbox/API.md lists what each stand-in implements and refuses, from its route table", async () => {
  const tables = sb.routeTables();
  const refusal = (shape: string): string => `answered with ${shape} (405 for another method on a path the stand-in has)`;
  const apis: Api[] = [
    { title: "Hetzner Cloud (`/v1`)", spec: "hetzner-cloud.openapi.json", prefix: "/v1", routes: tables.hetzner, refusal: refusal("404 `not_found`") },
    { title: "DigitalOcean (`/v2`)", spec: "digitalocean.openapi.yaml", prefix: "", routes: tables.digitalocean, refusal: refusal("404 `not_found`") },
    { title: "Fly Machines (`/v1`; the logs API `/api/v1` shares the port)", spec: "fly-machines.openapi.json", prefix: "", routes: tables.fly, refusal: refusal("404 `{error}`") },
    { title: "Koyeb (`/v1`; exec and log tail are WebSockets)", spec: "koyeb.openapi.json", prefix: "", routes: tables.koyeb, refusal: refusal("404 `{status, code, message}`") },
    {
      title: "Cloudflare Sandbox bridge (`/v1` and `/health`; exec is SSE; the ID is checked before the token)", spec: "cloudflare-sandbox-bridge.openapi.json", prefix: "",
      routes: tables["cloudflare-sandbox"], refusal: refusal("404 `{error, code}`"),
    },
    {
      title: "Cloudflare DNS (`/client/v4`)", spec: "cloudflare-dns.openapi.json", prefix: "",
      routes: cloudflareRoutes(new CloudflareWorld([{ name: "example.test" }]), Date.now), refusal: refusal("404 with error 7000"),
    },
  ];
  const text = [
    "# What the sandbox's APIs implement and refuse",
    "",
    "Generated by test/sandbox/api-doc.test.ts from the stand-ins' route tables and the specs in",
    "../shared/specs; do not edit by hand (`npx vitest run test/sandbox/api-doc.test.ts -u` after a change).",
    "Every stand-in checks the token first: a wrong or missing one gets the provider's 401.",
    "",
    ...apis.map(section),
    s3Section(),
  ].join("\n");
  await expect(text).toMatchFileSnapshot("../../src/sandbox/API.md");
});
