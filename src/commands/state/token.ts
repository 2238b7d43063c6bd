import type { Command } from "commander";
import type { Context } from "../../context.js";
import { action, examples } from "../../lib/command.js";
import { UsageError } from "../../lib/errors.js";
import { addListFlags, listOptionsFrom, renderList, type Column } from "../../lib/output.js";
import type { ServerBackend, TokenInfo, TokenScope } from "../../state/tokens.js";
import { describeDb } from "./db.js";

const OPERATOR_RE = /^[A-Za-z0-9][A-Za-z0-9._@-]{0,63}$/;

const COLUMNS: Column<TokenInfo>[] = [
  { name: "id", value: (t) => t.id },
  { name: "operator", value: (t) => t.operator },
  { name: "scope", value: (t) => t.scope },
  { name: "created", value: (t) => t.createdAt },
  { name: "last-used", value: (t) => t.lastUsedAt },
  { name: "revoked", value: (t) => t.revokedAt },
  { name: "created-by", value: (t) => t.createdBy, optional: true },
];

/** Token administration works on the database directly, as the server's admin would. */
async function withBackend<T>(ctx: Context, db: string | undefined, fn: (backend: ServerBackend, admin: string) => Promise<T>): Promise<T> {
  const where = await describeDb(ctx, db);
  const { openBackend } = await import("../../state/backend.js");
  const backend = await openBackend(where.location, { now: () => ctx.clock.now() });
  try {
    return await fn(backend, await ctx.operator());
  } finally {
    await backend.close();
  }
}

export interface CreatedToken extends TokenInfo {
  /** The bearer token: shown this once, never stored. */
  token: string;
}

export async function runTokenCreate(ctx: Context, operator: string, scope: string, db?: string): Promise<CreatedToken> {
  if (!OPERATOR_RE.test(operator)) throw new UsageError(`invalid operator name "${operator}": 1-64 characters of letters, digits and . _ @ -`);
  const { mintToken, toTokenInfo, TOKEN_SCOPES } = await import("../../state/tokens.js");
  if (!(TOKEN_SCOPES as readonly string[]).includes(scope)) throw new UsageError(`--scope must be read, write or admin, got "${scope}"`);
  return withBackend(ctx, db, async (backend, admin) => {
    const { token, record } = mintToken(operator, scope as TokenScope, ctx.clock.now(), admin);
    await backend.audited({ who: admin, requestId: null }).insertToken(record);
    return { ...toTokenInfo(record), token };
  });
}

export async function runTokenList(ctx: Context, db?: string): Promise<TokenInfo[]> {
  return withBackend(ctx, db, (backend) => backend.listTokens());
}

export async function runTokenRevoke(ctx: Context, id: string, db?: string): Promise<TokenInfo> {
  return withBackend(ctx, db, (backend, admin) => backend.audited({ who: admin, requestId: null }).revokeToken(id));
}

export function registerToken(state: Command, ctx: Context): void {
  const token = state.command("token").description("bearer tokens of the state server (create, list, revoke), on its database");
  token.addHelpText("after", examples(
    "automna state token create ann --scope write --db /srv/automna/state.db",
    "automna state token list --db postgres://automna@db.internal/automna",
    "automna state token revoke tok_m3x9k2a1b7f3c2d1e4f5 --db /srv/automna/state.db",
  ));
  const dbOption = "--db <path|url>";
  const dbHelp = "the server's database: SQLite file or postgres:// URL (default: the embedded state database)";

  token
    .command("create")
    .description("create a token for an operator; prints it once on stdout (only its hash is stored)")
    .argument("<operator>", "who the token acts as, in leases and the audit log")
    .requiredOption("--scope <scope>", "read, write (read plus changes) or admin (write plus lock break)")
    .option(dbOption, dbHelp)
    .action(action(ctx, async (operator: string, opts: { scope: string; db?: string }) => {
      const created = await runTokenCreate(ctx, operator, opts.scope, opts.db);
      if (ctx.globals.json) ctx.io.json(created);
      else {
        ctx.io.out(created.token);
        ctx.io.success(`created ${created.id} for ${created.operator} (scope ${created.scope}); this is the only time the token is shown`);
      }
    }));

  addListFlags(token
    .command("list")
    .description("tokens with operator, scope, last use and revocation (never the tokens themselves)")
    .option(dbOption, dbHelp), COLUMNS)
    .action(action(ctx, async (opts: { db?: string; output?: string; columns?: string; header: boolean }) => {
      renderList(ctx.io, await runTokenList(ctx, opts.db), COLUMNS, listOptionsFrom(opts, ctx.globals.json));
    }));

  token
    .command("revoke")
    .description("revoke a token at once (the server refuses it from its next request)")
    .argument("<id>", "token id, as `state token list` shows it")
    .option(dbOption, dbHelp)
    .action(action(ctx, async (id: string, opts: { db?: string }) => {
      const revoked = await runTokenRevoke(ctx, id, opts.db);
      if (ctx.globals.json) ctx.io.json(revoked);
      else ctx.io.success(`revoked ${revoked.id} of ${revoked.operator}`);
    }));
}
