import type { Command } from "commander";
import type { Context } from "../../context.js";
import { action, examples } from "../../lib/command.js";
import { AutomnaError, UsageError } from "../../lib/errors.js";
import { addOutputFlag, DOCUMENT_FORMATS, renderDocument, resolveFormat } from "../../lib/output.js";
import { parseDuration } from "../../lib/validate.js";
import { MANIFESTS } from "../../providers/manifests.js";
import { runningSandbox, upDir } from "./run.js";

interface OutageFlags {
  for?: string;
  end?: boolean;
  reset?: boolean;
  dir?: string;
  output?: string;
}

export interface OutageResult {
  provider: string;
  /** "started" or "ended". */
  outage: "started" | "ended";
  /** When it ends by itself; null: until `--end`. */
  until: string | null;
  /** Outage rules that were in force and were ended (`--end`). */
  ended?: number;
}

/**
 * Takes one provider of the running sandbox down (its API answers 503, or resets connections with
 * `--reset`; its hosts unreachable) for a time or until `--end`, through the admin API's
 * `/outage/{provider}`. Hosts and agents keep running, as a real datacenter's do behind a cut link.
 */
export async function runSandboxOutage(ctx: Context, provider: string, flags: OutageFlags): Promise<OutageResult> {
  if (!MANIFESTS.some((m) => m.id === provider)) throw new UsageError(`unknown provider "${provider}"`, { hint: `providers: ${MANIFESTS.map((m) => m.id).join(", ")}` });
  if (flags.end && (flags.for !== undefined || flags.reset)) throw new UsageError("--end takes neither --for nor --reset", { hint: `automna sandbox outage ${provider} --end` });
  const durationMs = flags.for === undefined ? undefined : parseDuration("--for", flags.for);
  if (durationMs !== undefined && durationMs <= 0) throw new UsageError(`--for must be longer than 0, got "${flags.for}"`);
  const dir = await upDir(ctx, flags.dir);
  const info = await runningSandbox(dir);
  if (!info) throw new AutomnaError(`no sandbox is running on ${dir}`, { code: "not_running", hint: "automna sandbox up --detach" });
  const body = flags.end ? undefined : JSON.stringify({ ...(durationMs !== undefined ? { durationMs } : {}), ...(flags.reset ? { reset: true } : {}) });
  const res = await fetch(`${info.urls.admin}/outage/${provider}`, { method: flags.end ? "DELETE" : "POST", body, headers: { "content-type": "application/json" }, signal: AbortSignal.timeout(10_000) });
  const answer = (await res.json()) as { error?: string; ended?: number };
  if (!res.ok) throw new AutomnaError(`the sandbox refused the outage: ${answer.error ?? res.status}`);
  if (flags.end) return { provider, outage: "ended", until: null, ended: answer.ended ?? 0 };
  return { provider, outage: "started", until: durationMs === undefined ? null : new Date(ctx.clock.now().getTime() + durationMs).toISOString() };
}

export function registerOutage(sandbox: Command, ctx: Context): void {
  addOutputFlag(sandbox
    .command("outage")
    .description("take one provider down in the running sandbox (API 503 or reset, hosts unreachable; they keep running)")
    .argument("<provider>", `one of ${MANIFESTS.map((m) => m.id).join(", ")}`)
    .option("--for <duration>", "end by itself after this long (10m, 90s); default: until --end")
    .option("--reset", "reset the API's connections instead of answering 503")
    .option("--end", "bring the provider back now")
    .option("--dir <dir>", "world directory"))
    .addHelpText("after", examples("automna sandbox outage hetzner --for 10m", "automna sandbox outage fly --reset", "automna sandbox outage hetzner --end"))
    .action(action(ctx, async (provider: string, flags: OutageFlags) => {
      const format = resolveFormat(flags.output, ctx.globals.json, DOCUMENT_FORMATS);
      const r = await runSandboxOutage(ctx, provider, flags);
      if (format !== "table") return renderDocument(ctx.io, format, r, () => undefined);
      if (r.outage === "ended") {
        if (r.ended) ctx.io.success(`${provider} is back: its API answers and its hosts are reachable`);
        else ctx.io.info(`${provider} had no outage in force`);
        return;
      }
      ctx.io.success(`${provider} is down${r.until ? ` until ${r.until}` : ` until: automna sandbox outage ${provider} --end`}: its API ${flags.reset ? "resets connections" : "answers 503"}, its hosts are unreachable (they keep running)`);
    }));
}
