import { defineManifest } from "../manifest.js";

export const cloudflareSandbox = defineManifest({
  id: "cloudflare-sandbox",
  aliases: ["cf-sandbox"],
  title: "Cloudflare Sandbox",
  token: { key: "cloudflareSandbox.token", env: "SANDBOX_API_KEY", description: "the bridge Worker's SANDBOX_API_KEY (Bearer token)" },
  // The bridge is a Worker each account deploys: there is no shared endpoint; this is `wrangler dev`'s.
  url: { key: "cloudflareSandbox.url", env: "AUTOMNA_CF_SANDBOX_URL", description: "URL of your Cloudflare Sandbox bridge Worker", default: "http://localhost:8787" },
  settings: [
    { key: "cloudflareSandbox.bucket", type: "string", description: "R2 bucket the sandboxes mount (reached with the storage.* endpoint and keys)", env: "AUTOMNA_CF_SANDBOX_BUCKET", default: "automna" },
    { key: "cloudflareSandbox.dataPrefix", type: "string", description: "each user's data prefix in the bucket ({user} is replaced)", env: "AUTOMNA_CF_SANDBOX_DATA_PREFIX", default: "users/{user}/" },
    { key: "cloudflareSandbox.dataPath", type: "string", description: "where the sandbox mounts the prefix (under /workspace)", env: "AUTOMNA_CF_SANDBOX_DATA_PATH", default: "/workspace/data" },
  ],
  defaultRegion: "auto",
  defaultSize: "standard-1",
  // Cloudflare places containers itself; there is no region to choose through the bridge.
  regions: [{ name: "auto", description: "Cloudflare's network (placed by Cloudflare)" }],
  billedExtras: { ipv4: false },
  reach: "api",
  capabilities: {
    inbound: "a sandbox has no public address (only Cloudflare tunnels, which automna does not manage)",
    ssh: "sandboxes have no SSH; commands go through the bridge's exec route",
    secrets: "the bridge has no route to set a sandbox's environment; the Worker sets it",
    liveSizes: "the bridge publishes no sizes or prices; automna uses its dated catalog",
    livePrices: "the bridge publishes no prices; automna uses its dated catalog",
    alwaysOn: "its containers sleep 10 minutes after the last request (the bridge cannot keep them awake) and come back with an empty disk, so an always-on agent does not stay on",
    volumes: "a sandbox's disk is lost when it sleeps; its data lives in an R2 prefix",
  },
  load: async () => (await import("./index.js")).createProvider,
  sandbox: { load: async () => (await import("../../sandbox/cloudflare-sandbox/index.js")).cloudflareSandboxStandIn, portOffset: 7, urlPath: "" },
  fixture: { region: "auto", size: "standard-1", createFault: "/v1/sandbox/*/running", createPath: /^\/v1\/sandbox\/[a-z2-7]+\/running$/, addressed: false, sizeField: "size", fleet: false },
});
