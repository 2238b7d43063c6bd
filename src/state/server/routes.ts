import type { FastifyInstance, FastifyReply, FastifyRequest, RouteGenericInterface } from "fastify";
import { NotFoundError, UsageError } from "../../lib/errors.js";
import type { ServerBackend } from "../tokens.js";
import type {
  AuditFilter, InstanceFilter, InstancePatch, InstanceRole, LabelChange, LeaseHolder, NewAuditEntry, NewInstance, NewJournalEntry, NewOperation,
  NewUsageInterval, OperationFilter, OperationPatch, UpdateOptions, UsageFilter,
} from "../types.js";
import { decodeLease, decodeVersion, encodeVersion, LEASE_HEADER, OPERATIONS_PAGE_MAX } from "../wire.js";
import { mutations } from "./idempotency.js";
import { S } from "./schemas.js";

type Req = FastifyRequest<RouteGenericInterface>;
type ById<B = unknown> = { Params: { id: string }; Body: B };
type CloseUsage = { Body: { instanceId: string; end: string } };
type Acquire = { Params: { user: string }; Body: { holder: LeaseHolder; ttlMs: number } };
type Renew = { Params: { user: string }; Body: { leaseId: string; ttlMs: number } };
type Release = { Params: { user: string; leaseId: string } };
type Break = { Params: { user: string }; Body: { leaseId: string } };

/** Fencing and versions from the headers; malformed ones are a 400, never ignored. */
function writeOptions(request: Req): UpdateOptions {
  const options: UpdateOptions = {};
  const lease = request.headers[LEASE_HEADER];
  if (typeof lease === "string") {
    const ref = decodeLease(lease);
    if (!ref) throw new UsageError(`malformed ${LEASE_HEADER} header: expected <user>:<leaseId>`);
    options.lease = ref;
  }
  const ifMatch = request.headers["if-match"];
  if (typeof ifMatch === "string") {
    const version = decodeVersion(ifMatch);
    if (version === undefined) throw new UsageError('malformed If-Match header: expected "<version>"');
    options.expectedVersion = version;
  }
  return options;
}

/** Identity comes from the token; only an admin token may record actions on another's behalf. */
function claimed(request: Req, who: string): string {
  const caller = request.caller!;
  return caller.scope === "admin" ? who : caller.operator;
}

function withVersion<T extends { version: number }>(reply: FastifyReply, value: T): T {
  reply.header("etag", encodeVersion(value.version));
  return value;
}

function found<T>(value: T | undefined, what: string): T {
  if (value === undefined) throw new NotFoundError(`${what} not found`);
  return value;
}

/**
 * The state API, one route per store method; mutations go through an audited view, and through
 * `mutation` for their Idempotency-Key (see idempotency.ts).
 */
export function registerRoutes(app: FastifyInstance, backend: ServerBackend, now: () => Date): void {
  const mutation = mutations(backend, now);
  const read = { config: { scope: "read" as const } };
  const write = { config: { scope: "write" as const } };
  const admin = { config: { scope: "admin" as const } };

  app.get("/v1/whoami", read, async (request) => ({ ...request.caller! }));

  // ---- instances
  app.get<{ Querystring: Omit<InstanceFilter, "users"> & { users?: string } }>("/v1/instances", { ...read, schema: S.listInstances }, async (request) => {
    const { users, ...rest } = request.query;
    return backend.listInstances({ ...rest, ...(users ? { users: users.split(",") } : {}) });
  });
  app.get<{ Params: { id: string } }>("/v1/instances/:id", { ...read, schema: S.idParam }, async (request, reply) =>
    withVersion(reply, found(await backend.getInstanceById(request.params.id), `instance ${request.params.id}`)));
  app.get<{ Params: { user: string; role: InstanceRole } }>("/v1/users/:user/instances/:role", { ...read, schema: S.userRoleParam }, async (request, reply) =>
    withVersion(reply, found(await backend.getInstance(request.params.user, request.params.role), `${request.params.role} instance of ${request.params.user}`)));
  app.post<{ Body: NewInstance }>("/v1/instances", { ...write, schema: S.createInstance }, mutation<{ Body: NewInstance }>(201, (store, request) =>
    store.createInstance(request.body, writeOptions(request))));
  app.patch<ById<InstancePatch>>("/v1/instances/:id", { ...write, schema: { ...S.idParam, ...S.patchInstance } }, mutation<ById<InstancePatch>>(200, (store, request) =>
    store.updateInstance(request.params.id, request.body, writeOptions(request))));
  app.delete<ById>("/v1/instances/:id", { ...write, schema: S.idParam }, mutation<ById>(204, (store, request) =>
    store.deleteInstance(request.params.id, writeOptions(request))));

  // ---- labels
  app.get<{ Querystring: { users?: string } }>("/v1/labels", { ...read, schema: S.listLabels }, async (request) =>
    backend.listLabels(request.query.users ? request.query.users.split(",") : undefined));
  type PatchLabels = { Params: { user: string }; Body: LabelChange };
  app.patch<PatchLabels>("/v1/users/:user/labels", { ...write, schema: { ...S.userParam, ...S.updateLabels } }, mutation<PatchLabels>(200, (store, request) =>
    store.updateLabels(request.params.user, request.body)));

  // ---- usage
  app.get<{ Querystring: UsageFilter }>("/v1/usage", { ...read, schema: S.listUsage }, async (request) => backend.listUsage(request.query));
  app.post<{ Body: NewUsageInterval }>("/v1/usage", { ...write, schema: S.openUsage }, mutation<{ Body: NewUsageInterval }>(201, (store, request) =>
    store.openUsage(request.body, writeOptions(request))));
  app.post<CloseUsage>("/v1/usage/close", { ...write, schema: S.closeUsage }, mutation<CloseUsage>(200, (store, request) =>
    store.closeUsage(request.body.instanceId, request.body.end, writeOptions(request))));

  // ---- operations and their journals
  // A page at most (wire.ts): a list of every operation ever would grow without bound.
  app.get<{ Querystring: OperationFilter }>("/v1/operations", { ...read, schema: S.listOperations }, async (request) =>
    backend.listOperations({ ...request.query, limit: request.query.limit ?? OPERATIONS_PAGE_MAX }));
  app.get<{ Params: { id: string } }>("/v1/operations/:id", { ...read, schema: S.idParam }, async (request, reply) =>
    withVersion(reply, found(await backend.getOperation(request.params.id), `operation ${request.params.id}`)));
  app.post<{ Body: NewOperation }>("/v1/operations", { ...write, schema: S.createOperation }, mutation<{ Body: NewOperation }>(201, (store, request) =>
    store.createOperation(request.body, writeOptions(request))));
  app.patch<ById<OperationPatch>>("/v1/operations/:id", { ...write, schema: { ...S.idParam, ...S.patchOperation } }, mutation<ById<OperationPatch>>(200, (store, request) =>
    store.updateOperation(request.params.id, request.body, writeOptions(request))));
  app.get<{ Params: { id: string } }>("/v1/operations/:id/journal", { ...read, schema: S.idParam }, async (request) => backend.listJournal(request.params.id));
  app.post<ById<NewJournalEntry>>("/v1/operations/:id/journal", { ...write, schema: { ...S.idParam, ...S.appendJournal } }, mutation<ById<NewJournalEntry>>(201, (store, request) =>
    store.appendJournal(request.params.id, request.body, writeOptions(request))));

  // ---- leases: Terraform's LOCK/UNLOCK, plus what its users ask for (list, expiry, heartbeat)
  app.get("/v1/leases", read, async () => backend.listLeases());
  app.get<{ Params: { user: string } }>("/v1/leases/:user", { ...read, schema: S.userParam }, async (request) =>
    found(await backend.getLease(request.params.user), `live lease on ${request.params.user}`));
  app.put<Acquire>("/v1/leases/:user", { ...write, schema: { ...S.userParam, ...S.acquireLease } }, mutation<Acquire>(201, (store, request) =>
    store.acquireLease(request.params.user, { ...request.body.holder, who: claimed(request, request.body.holder.who) }, request.body.ttlMs)));
  // Renewing and releasing: the lease's holder (its token's operator) or an admin (sql-store.ts).
  app.post<Renew>("/v1/leases/:user/renew", { ...write, schema: { ...S.userParam, ...S.renewLease } }, mutation<Renew>(200, (store, request) =>
    store.renewLease({ user: request.params.user, leaseId: request.body.leaseId }, request.body.ttlMs)));
  app.delete<Release>("/v1/leases/:user/:leaseId", { ...write, schema: S.leaseParam }, mutation<Release>(204, (store, request) =>
    store.releaseLease({ user: request.params.user, leaseId: request.params.leaseId })));
  // Breaking someone else's lease is the one operation that needs admin.
  app.post<Break>("/v1/leases/:user/break", { ...admin, schema: { ...S.userParam, ...S.breakLease } }, mutation<Break>(200, (store, request) =>
    store.breakLease(request.params.user, request.body.leaseId)));

  // ---- audit log
  app.get<{ Querystring: AuditFilter }>("/v1/audit", { ...read, schema: S.listAudit }, async (request) => backend.listAudit(request.query));
  // appendAudit on an audited view adds no second row; the view only carries the idempotency claim.
  app.post<{ Body: NewAuditEntry }>("/v1/audit", { ...write, schema: S.appendAudit }, mutation<{ Body: NewAuditEntry }>(201, (store, request) =>
    store.appendAudit({ ...request.body, who: claimed(request, request.body.who), requestId: request.body.requestId ?? request.id })));
}
