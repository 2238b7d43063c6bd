import { defineManifest } from "../manifest.js";

export const koyeb = defineManifest({
  id: "koyeb",
  aliases: [],
  title: "Koyeb",
  token: { key: "koyeb.token", env: "KOYEB_TOKEN", description: "Koyeb API token" },
  url: { key: "koyeb.url", env: "AUTOMNA_KOYEB_URL", description: "Koyeb API base URL", default: "https://app.koyeb.com" },
  settings: [
    { key: "koyeb.volumeGb", type: "number", description: "size of each Koyeb user's /data volume in GB", env: "AUTOMNA_KOYEB_VOLUME_GB", default: 1 },
  ],
  defaultRegion: "fra",
  defaultSize: "micro",
  // Only regions with volumes (the README's capture): an agent's /data needs one.
  regions: [
    { name: "fra", description: "Frankfurt, DE" }, { name: "par", description: "Paris, FR" }, { name: "was", description: "Washington, D.C., US" },
  ],
  // Koyeb publishes no volume price; the instance price is all that is billed here.
  billedExtras: { ipv4: false },
  reach: "api",
  capabilities: {
    inbound: "a WORKER service has no public port or domain",
    ssh: "Koyeb instances have no SSH; commands go through Koyeb's exec API and a shell through `koyeb services exec`",
  },
  load: async () => (await import("./index.js")).createProvider,
  sandbox: { load: async () => (await import("../../sandbox/koyeb/index.js")).koyebStandIn, portOffset: 6, urlPath: "" },
  fixture: { region: "fra", size: "micro", createFault: "/v1/services", createPath: /^\/v1\/services$/, addressed: false, sizeField: "definition.instance_types" },
});
