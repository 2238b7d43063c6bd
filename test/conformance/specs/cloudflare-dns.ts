import type { ApiSpec } from "../api-spec.js";
import { operations, upperCaseRanges, type Doc } from "../openapi-doc.js";

const RECORD = "dns-records_dns-record";
const SERVER_SET = ["id", "proxiable", "created_on", "modified_on"];

export default {
  name: "Cloudflare DNS",
  file: "cloudflare-dns.openapi.json",
  urlEnv: "AUTOMNA_CLOUDFLARE_URL",
  patches: [
    { why: "its error responses are keyed `4xx`, which OpenAPI does not define (status ranges are `4XX`)", apply: upperCaseRanges },
    {
      why: "the dns_records operations list only the X-Auth-Email/X-Auth-Key pair, while the document's own api_token (Bearer) scheme is what API tokens use for them (the zone operations list it)",
      apply: (doc) => {
        let changed = false;
        for (const { path, op } of operations(doc)) {
          const security = op.security as Doc[] | undefined;
          if (!path.includes("/dns_records") || !security || security.some((s) => "api_token" in s)) continue;
          security.unshift({ api_token: [] });
          changed = true;
        }
        return changed;
      },
    },
    {
      why: "record create/replace/edit bodies use the response schema, which requires the server-set id, proxiable, created_on and modified_on (readOnly fields a client cannot send)",
      apply: (doc) => {
        const record = doc.components.schemas[RECORD] as Doc;
        if (!SERVER_SET.every((f) => record.required?.includes(f))) return false;
        doc.components.schemas[`${RECORD}-request`] = { ...record, required: record.required.filter((f: string) => !SERVER_SET.includes(f)) };
        for (const { path, method, op } of operations(doc)) {
          const schema = op.requestBody?.content?.["application/json"]?.schema as Doc | undefined;
          if (path.includes("/dns_records") && method !== "get" && schema?.$ref === `#/components/schemas/${RECORD}`) schema.$ref = `#/components/schemas/${RECORD}-request`;
        }
        return true;
      },
    },
  ],
} satisfies ApiSpec;
