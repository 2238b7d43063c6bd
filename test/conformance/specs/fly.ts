import type { ApiSpec } from "../api-spec.js";
import { operations, type Doc } from "../openapi-doc.js";

const MACHINES = "/v1/apps/{app_name}/machines";

/** The Fly logs API automna reads (`AUTOMNA_FLY_LOGS_URL`) is another host with no published spec; it is not routed here. */
export default {
  name: "Fly Machines",
  file: "fly-machines.openapi.json",
  urlEnv: "AUTOMNA_FLY_URL",
  provider: { id: "fly", region: "ams", size: "shared-cpu-1x-2gb" },
  patches: [
    {
      why: "Fly's docs describe 429 for every Machines call over its rate limits (1 req/s per action, bursts of 3), the spec documents none",
      apply: (doc) => {
        for (const { op } of operations(doc)) {
          op.responses["429"] ??= { description: "Too Many Requests", content: { "application/json": { schema: { $ref: "#/components/schemas/ErrorResponse" } } } };
        }
        return true;
      },
    },
    {
      why: "Fly's docs describe `metadata.<key>=<value>` filters on the machines list (automna filters on its own key), which the spec's parameter list leaves out",
      apply: (doc) => {
        const list = doc.paths[MACHINES]?.get as Doc | undefined;
        if (!list) return false;
        list.parameters = [...(list.parameters ?? []), { name: "metadata.automna_managed", in: "query", schema: { type: "string" } }];
        return true;
      },
    },
    {
      why: "stop and delete answer 200 with `{\"ok\":true}`, as Fly's API does, while the spec gives those 200s an empty content map",
      apply: (doc) => {
        const ops = [doc.paths[`${MACHINES}/{machine_id}/stop`]?.post, doc.paths[`${MACHINES}/{machine_id}`]?.delete] as (Doc | undefined)[];
        if (ops.some((op) => !op || Object.keys(op.responses?.["200"]?.content ?? {}).length > 0)) return false;
        for (const op of ops) op!.responses["200"].content = { "application/json": { schema: { type: "object", properties: { ok: { type: "boolean" } } } } };
        return true;
      },
    },
  ],
} satisfies ApiSpec;
