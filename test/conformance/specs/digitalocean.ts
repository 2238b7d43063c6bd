import type { ApiSpec } from "../api-spec.js";

export default {
  name: "DigitalOcean",
  file: "digitalocean.openapi.yaml",
  urlEnv: "AUTOMNA_DIGITALOCEAN_URL",
  provider: { id: "digitalocean", region: "fra1", size: "s-1vcpu-2gb" },
  patches: [],
} satisfies ApiSpec;
