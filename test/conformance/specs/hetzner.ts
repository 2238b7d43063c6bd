import type { ApiSpec } from "../api-spec.js";
import { upperCaseRanges } from "../openapi-doc.js";

export default {
  name: "Hetzner Cloud",
  file: "hetzner-cloud.openapi.json",
  urlEnv: "AUTOMNA_HETZNER_URL",
  provider: { id: "hetzner", region: "fsn1", size: "cx22" },
  patches: [
    { why: "its error responses are keyed `4xx`, which OpenAPI does not define (status ranges are `4XX`), so no error status would be documented", apply: upperCaseRanges },
  ],
} satisfies ApiSpec;
