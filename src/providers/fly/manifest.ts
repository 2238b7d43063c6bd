import { defineManifest, volumeGb } from "../manifest.js";

export const fly = defineManifest({
  id: "fly",
  aliases: [],
  title: "Fly.io",
  token: { key: "fly.token", env: "FLY_API_TOKEN", description: "Fly.io API token" },
  url: { key: "fly.url", env: "AUTOMNA_FLY_URL", description: "Fly Machines API base URL", default: "https://api.machines.dev" },
  settings: [
    { key: "fly.logsUrl", type: "string", description: "Fly logs API base URL", env: "AUTOMNA_FLY_LOGS_URL", default: "https://api.fly.io" },
    { key: "fly.volumeGb", type: "number", range: { min: 1, max: 500, integer: true }, description: "size of each Fly user's /data volume in GB", env: "AUTOMNA_FLY_VOLUME_GB", default: 1 },
    { key: "fly.org", type: "string", description: "Fly organization slug for new apps", env: "AUTOMNA_FLY_ORG", default: "personal" },
  ],
  defaultRegion: "ams",
  defaultSize: "shared-cpu-1x-2gb",
  regions: [
    { name: "ams", description: "Amsterdam, NL" }, { name: "fra", description: "Frankfurt, DE" },
    { name: "lhr", description: "London, UK" }, { name: "cdg", description: "Paris, FR" },
    { name: "iad", description: "Ashburn, VA, US" }, { name: "ord", description: "Chicago, IL, US" },
    { name: "sjc", description: "San Jose, CA, US" }, { name: "sin", description: "Singapore, SG" },
    { name: "nrt", description: "Tokyo, JP" }, { name: "syd", description: "Sydney, AU" },
  ],
  // Fly apps use the free shared IPv4; the machine's /data volume is billed per GB.
  billedExtras: { ipv4: false, volumeGb: (config) => volumeGb(config.getNumber("fly.volumeGb")) },
  reach: "api",
  capabilities: {
    liveSizes: "the Machines API publishes no sizes or prices; automna uses its catalog",
    livePrices: "the Machines API publishes no prices; automna uses its catalog",
  },
  load: async () => (await import("./index.js")).createProvider,
  sandbox: {
    load: async () => (await import("../../sandbox/fly/stand-in.js")).flyStandIn,
    portOffset: 2,
    urlPath: "",
    // The logs API (api.fly.io in real life) is served on the Machines API's port.
    settings: (url) => ({ "fly.logsUrl": url, "fly.org": "personal" }),
  },
  fixture: { region: "ams", size: "shared-cpu-1x-2gb", createFault: "/v1/apps/*/machines", createPath: /^\/v1\/apps\/[^/]+\/machines$/, addressed: true, sizeField: "guest" },
});
