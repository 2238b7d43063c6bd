import type { ApiSpec } from "../api-spec.js";

export default {
  name: "Koyeb",
  file: "koyeb.openapi.json",
  urlEnv: "AUTOMNA_KOYEB_URL",
  provider: { id: "koyeb", region: "fra", size: "micro" },
  patches: [],
} satisfies ApiSpec;
