import type { Context } from "../../context.js";
import { UsageError } from "../../lib/errors.js";

/**
 * The database `state serve` and `state token` work on: --db, else the embedded state database
 * this CLI would use (a state URL is a client setting and cannot be served or administered).
 */
export async function describeDb(ctx: Context, db: string | undefined): Promise<{ location: string; display: string }> {
  const [{ resolveStateLocation }, { describePgUrl, isPostgresUrl }] = await Promise.all([import("../../state/open.js"), import("../../state/backend.js")]);
  let location = db;
  if (!location) {
    const where = resolveStateLocation(await ctx.config(), ctx.globals.state ?? ctx.env.AUTOMNA_STATE);
    if (where.kind === "http") throw new UsageError("state is a server URL here; pass --db <sqlite path | postgres://...>");
    location = where.location;
  }
  if (isPostgresUrl(location)) return { location, display: describePgUrl(location) };
  if (/^[a-z]+:\/\//i.test(location)) throw new UsageError(`--db must be an SQLite file path or a postgres:// URL, got ${location.split("://")[0]}://`);
  return { location, display: location };
}
