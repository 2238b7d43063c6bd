import type { FastifyInstance, FastifyReply, FastifyRequest } from "fastify";
import { NotFoundError, UsageError } from "../../lib/errors.js";
import type { ServerBackend } from "../tokens.js";
import type {
  AuditFilter, InstanceFilter, InstancePatch, InstanceRole, LeaseHolder, NewAuditEntry, NewInstance, NewJournalEntry, NewOperation,
  NewUsageInterval, OperationFilter, OperationPatch, StateStore, UpdateOptions, UsageFilter,
} from "../types.js";
import { decodeLease, decodeVersion, encodeVersion, LEASE_HEADER } from "../wire.js";
import { S } from "./schemas.js";

type Req = FastifyRequest;

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

/** The state API, one route per store method; mutations go through an audited view. */
export function registerRoutes(app: FastifyInstance, backend: ServerBackend): void {
  const audited = (request: Req): StateStore => backend.audited({ who: request.caller!.operator, requestId: request.id });
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
  app.post<{ Body: NewInstance }>("/v1/instances", { ...write, schema: S.createInstance }, async (request, reply) => {
    const created = await audited(request).createInstance(request.body, writeOptions(request));
    return reply.code(201).send(withVersion(reply, created));
  });
  app.patch<{ Params: { id: string }; Body: InstancePatch }>("/v1/instances/:id", { ...write, schema: { ...S.idParam, ...S.patchInstance } }, async (request, reply) =>
    withVersion(reply, await audited(request).updateInstance(request.params.id, request.body, writeOptions(request))));
  app.delete<{ Params: { id: string } }>("/v1/instances/:id", { ...write, schema: S.idParam }, async (request, reply) => {
    await audited(request).deleteInstance(request.params.id, writeOptions(request));
    return reply.code(204).send();
  });

  // ---- usage
  app.get<{ Querystring: UsageFilter }>("/v1/usage", { ...read, schema: S.listUsage }, async (request) => backend.listUsage(request.query));
  app.post<{ Body: NewUsageInterval }>("/v1/usage", { ...write, schema: S.openUsage }, async (request, reply) =>
    reply.code(201).send(await audited(request).openUsage(request.body, writeOptions(request))));
  app.post<{ Body: { instanceId: string; end: string } }>("/v1/usage/close", { ...write, schema: S.closeUsage }, async (request) =>
    audited(request).closeUsage(request.body.instanceId, request.body.end, writeOptions(request)));

  // ---- operations and their journals
  app.get<{ Querystring: OperationFilter }>("/v1/operations", { ...read, schema: S.listOperations }, async (request) => backend.listOperations(request.query));
  app.get<{ Params: { id: string } }>("/v1/operations/:id", { ...read, schema: S.idParam }, async (request, reply) =>
    withVersion(reply, found(await backend.getOperation(request.params.id), `operation ${request.params.id}`)));
  app.post<{ Body: NewOperation }>("/v1/operations", { ...write, schema: S.createOperation }, async (request, reply) =>
    reply.code(201).send(withVersion(reply, await audited(request).createOperation(request.body, writeOptions(request)))));
  app.patch<{ Params: { id: string }; Body: OperationPatch }>("/v1/operations/:id", { ...write, schema: { ...S.idParam, ...S.patchOperation } }, async (request, reply) =>
    withVersion(reply, await audited(request).updateOperation(request.params.id, request.body, writeOptions(request))));
  app.get<{ Params: { id: string } }>("/v1/operations/:id/journal", { ...read, schema: S.idParam }, async (request) => backend.listJournal(request.params.id));
  app.post<{ Params: { id: string }; Body: NewJournalEntry }>("/v1/operations/:id/journal", { ...write, schema: { ...S.idParam, ...S.appendJournal } }, async (request, reply) =>
    reply.code(201).send(await audited(request).appendJournal(request.params.id, request.body, writeOptions(request))));

  // ---- leases: Terraform's LOCK/UNLOCK, plus what its users ask for (list, expiry, heartbeat)
  app.get("/v1/leases", read, async () => backend.listLeases());
  app.get<{ Params: { user: string } }>("/v1/leases/:user", { ...read, schema: S.userParam }, async (request) =>
    found(await backend.getLease(request.params.user), `live lease on ${request.params.user}`));
  app.put<{ Params: { user: string }; Body: { holder: LeaseHolder; ttlMs: number } }>("/v1/leases/:user", { ...write, schema: { ...S.userParam, ...S.acquireLease } }, async (request, reply) => {
    const holder = { ...request.body.holder, who: claimed(request, request.body.holder.who) };
    return reply.code(201).send(await audited(request).acquireLease(request.params.user, holder, request.body.ttlMs));
  });
  app.post<{ Params: { user: string }; Body: { leaseId: string; ttlMs: number } }>("/v1/leases/:user/renew", { ...write, schema: { ...S.userParam, ...S.renewLease } }, async (request) =>
    audited(request).renewLease({ user: request.params.user, leaseId: request.body.leaseId }, request.body.ttlMs));
  app.delete<{ Params: { user: string; leaseId: string } }>("/v1/leases/:user/:leaseId", { ...write, schema: S.leaseParam }, async (request, reply) => {
    await audited(request).releaseLease({ user: request.params.user, leaseId: request.params.leaseId });
    return reply.code(204).send();
  });
  // Breaking someone else's lease is the one operation that needs admin.
  app.post<{ Params: { user: string }; Body: { leaseId: string } }>("/v1/leases/:user/break", { ...admin, schema: { ...S.userParam, ...S.breakLease } }, async (request) =>
    audited(request).breakLease(request.params.user, request.body.leaseId));

  // ---- audit log
  app.get<{ Querystring: AuditFilter }>("/v1/audit", { ...read, schema: S.listAudit }, async (request) => backend.listAudit(request.query));
  app.post<{ Body: NewAuditEntry }>("/v1/audit", { ...write, schema: S.appendAudit }, async (request, reply) => {
    const entry = { ...request.body, who: claimed(request, request.body.who), requestId: request.body.requestId ?? request.id };
    return reply.code(201).send(await backend.appendAudit(entry));
  });
}
