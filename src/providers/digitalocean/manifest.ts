import { defineManifest } from "../manifest.js";

export const digitalocean = defineManifest({
  id: "digitalocean",
  aliases: ["do"],
  title: "DigitalOcean",
  token: { key: "digitalocean.token", env: "DIGITALOCEAN_ACCESS_TOKEN", description: "DigitalOcean API token" },
  url: { key: "digitalocean.url", env: "AUTOMNA_DIGITALOCEAN_URL", description: "DigitalOcean API base URL", default: "https://api.digitalocean.com" },
  settings: [],
  defaultRegion: "fra1",
  defaultSize: "s-1vcpu-2gb",
  regions: [
    { name: "nyc1", description: "New York 1" }, { name: "nyc3", description: "New York 3" },
    { name: "sfo3", description: "San Francisco 3" }, { name: "tor1", description: "Toronto 1" },
    { name: "ams3", description: "Amsterdam 3" }, { name: "fra1", description: "Frankfurt 1" },
    { name: "lon1", description: "London 1" }, { name: "sgp1", description: "Singapore 1" },
    { name: "blr1", description: "Bangalore 1" }, { name: "syd1", description: "Sydney 1" },
  ],
  // A droplet's IPv4 and disk are in its size's price.
  billedExtras: { ipv4: false },
  reach: "ssh",
  capabilities: { volumes: "the agent's data lives on the droplet's own disk" },
  load: async () => (await import("./index.js")).createProvider,
  sandbox: { load: async () => (await import("../../sandbox/digitalocean/stand-in.js")).digitaloceanStandIn, portOffset: 1, urlPath: "" },
  fixture: { region: "fra1", size: "s-1vcpu-2gb", createFault: "/v2/droplets", createPath: /^\/v2\/droplets$/, addressed: true, sizeField: "size" },
});
