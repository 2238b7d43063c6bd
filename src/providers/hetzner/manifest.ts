import { defineManifest } from "../manifest.js";

export const hetzner = defineManifest({
  id: "hetzner",
  aliases: [],
  title: "Hetzner Cloud",
  token: { key: "hetzner.token", env: "HCLOUD_TOKEN", description: "Hetzner Cloud API token" },
  url: { key: "hetzner.url", env: "AUTOMNA_HETZNER_URL", description: "Hetzner Cloud API base URL", default: "https://api.hetzner.cloud/v1" },
  settings: [],
  defaultRegion: "fsn1",
  defaultSize: "cx22",
  regions: [
    { name: "fsn1", description: "Falkenstein, DE" }, { name: "nbg1", description: "Nuremberg, DE" },
    { name: "hel1", description: "Helsinki, FI" }, { name: "ash", description: "Ashburn, VA, US" },
    { name: "hil", description: "Hillsboro, OR, US" }, { name: "sin", description: "Singapore, SG" },
  ],
  // A server pays for its primary IPv4 on top of its type's price.
  billedExtras: { ipv4: true },
  reach: "ssh",
  capabilities: { volumes: "the agent's data lives on the server's own disk" },
  load: async () => (await import("./index.js")).createProvider,
  sandbox: { load: async () => (await import("../../sandbox/hetzner/stand-in.js")).hetznerStandIn, portOffset: 0, urlPath: "/v1" },
  fixture: { region: "fsn1", size: "cx22", createFault: "/v1/servers", createPath: /^\/v1\/servers$/, addressed: true, sizeField: "server_type" },
});
