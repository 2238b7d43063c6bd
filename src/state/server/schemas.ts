import { LABEL_KEY_RE, LABEL_VALUE_RE } from "../../lib/labels.js";
import { USER_ID_RE } from "../../lib/validate.js";
import { INSTANCE_STATUSES } from "../types.js";
import { OPERATIONS_PAGE_MAX } from "../wire.js";

/**
 * JSON schemas of the state API's requests. Fastify validates every body, query and path
 * against them before a handler runs (400 with the first problem otherwise); unknown fields are
 * rejected rather than silently dropped, so a client typo fails loudly.
 */

// The CLI's own rule (lib/validate.ts), so the server refuses exactly the ids the CLI refuses.
const USER_ID = USER_ID_RE.source.slice(1, -1);
const userId = { type: "string", pattern: `^${USER_ID}$` } as const;
const id = { type: "string", minLength: 1, maxLength: 100, pattern: "^[A-Za-z0-9_.:-]+$" } as const;
const name = { type: "string", minLength: 1, maxLength: 200 } as const;
const time = { type: "string", format: "date-time" } as const;
const strings = { type: "object", additionalProperties: { type: "string", maxLength: 2000 } } as const;
const object = { type: "object" } as const;
const nullable = <T extends object>(schema: T) => ({ anyOf: [schema, { type: "null" }] });
const role = { type: "string", enum: ["live", "target", "retired"] } as const;
const status = { type: "string", enum: [...INSTANCE_STATUSES] } as const;
const opStatus = { type: "string", enum: ["running", "succeeded", "failed", "rolling_back", "rolled_back", "abandoned"] } as const;

const body = (properties: Record<string, unknown>, required: string[] = []) => ({
  type: "object", properties, required, additionalProperties: false,
});
const params = (properties: Record<string, unknown>) => ({ type: "object", properties, required: Object.keys(properties) });
const query = (properties: Record<string, unknown>) => ({ type: "object", properties, additionalProperties: false });

export const S = {
  userParam: { params: params({ user: userId }) },
  idParam: { params: params({ id }) },
  userRoleParam: { params: params({ user: userId, role }) },
  leaseParam: { params: params({ user: userId, leaseId: id }) },

  listInstances: {
    querystring: query({
      user: userId, provider: name, region: name, status, role,
      users: { type: "string", pattern: `^${USER_ID}(,${USER_ID})*$` },
    }),
  },
  createInstance: {
    body: body({
      id, user: userId, role, provider: name, region: name, size: name, image: { type: "string", minLength: 1, maxLength: 500 },
      resources: strings, addresses: strings, status, opId: nullable(id), meta: object, createdAt: time,
    }, ["user", "role", "provider", "region", "size", "image", "resources", "addresses", "status", "opId", "meta"]),
  },
  patchInstance: {
    body: body({ role, region: name, size: name, image: { type: "string", minLength: 1, maxLength: 500 }, resources: strings, addresses: strings, status, opId: nullable(id), meta: object }),
  },

  openUsage: {
    body: body({
      user: userId, instanceId: nullable(id), provider: name, size: name, region: name, kind: { type: "string", enum: ["server", "volume", "ipv4"] },
      quantity: { type: "number", minimum: 0 }, hourlyPrice: { type: "number", minimum: 0 }, monthlyPrice: nullable({ type: "number", minimum: 0 }),
      currency: { type: "string", pattern: "^[A-Z]{3}$" }, start: time, end: nullable(time),
    }, ["user", "instanceId", "provider", "size", "region", "kind", "quantity", "hourlyPrice", "monthlyPrice", "currency", "start"]),
  },
  closeUsage: { body: body({ instanceId: id, end: time }, ["instanceId", "end"]) },
  listUsage: { querystring: query({ user: userId, provider: name, from: time, to: time, openOnly: { type: "boolean" }, instanceId: id }) },

  createOperation: {
    body: body({ id, kind: name, user: userId, params: object, data: object, step: nullable(name), status: opStatus }, ["kind", "user"]),
  },
  listOperations: {
    querystring: query({
      user: userId, kind: name, status: opStatus, active: { type: "boolean" }, before: id, limit: { type: "integer", minimum: 0, maximum: OPERATIONS_PAGE_MAX },
    }),
  },
  patchOperation: {
    body: body({ status: opStatus, step: nullable(name), data: object, error: nullable({ type: "string", maxLength: 10000 }), params: object }),
  },
  appendJournal: {
    body: body({ step: name, phase: { type: "string", enum: ["intent", "done", "failed", "undone"] }, data: object }, ["step", "phase"]),
  },

  acquireLease: {
    body: body({
      holder: body({ who: name, operation: name, host: name, pid: { type: "integer", minimum: 0 } }, ["who", "operation"]),
      ttlMs: { type: "integer", minimum: 1, maximum: 7 * 24 * 3_600_000 },
    }, ["holder", "ttlMs"]),
  },
  renewLease: { body: body({ leaseId: id, ttlMs: { type: "integer", minimum: 1, maximum: 7 * 24 * 3_600_000 } }, ["leaseId", "ttlMs"]) },
  breakLease: { body: body({ leaseId: id }, ["leaseId"]) },

  listLabels: { querystring: query({ users: { type: "string", pattern: `^${USER_ID}(,${USER_ID})*$` } }) },
  updateLabels: {
    body: body({
      set: { type: "object", propertyNames: { pattern: LABEL_KEY_RE.source, maxLength: 317 }, additionalProperties: { type: "string", pattern: LABEL_VALUE_RE.source } },
      remove: { type: "array", maxItems: 1000, items: { type: "string", pattern: LABEL_KEY_RE.source, maxLength: 317 } },
    }),
  },

  appendAudit: {
    body: body({ who: name, action: name, target: name, requestId: nullable(id), details: object }, ["who", "action", "target"]),
  },
  listAudit: {
    querystring: query({ who: name, action: name, target: name, since: time, until: time, limit: { type: "integer", minimum: 0, maximum: 100000 }, order: { type: "string", enum: ["asc", "desc"] } }),
  },
} as const;
