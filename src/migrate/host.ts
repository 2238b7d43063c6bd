import { checkHealth, healthHost } from "../lib/health.js";
import { AutomnaError } from "../lib/errors.js";
import { redactPresignedUrl } from "../lib/s3-presign.js";
import type { Provider } from "../providers/types.js";
import type { Instance } from "../state/types.js";
import { cleanupScript, dataSizeScript } from "./scripts.js";
import type { EngineDeps, ExecResult, HealthSettings } from "./types.js";

/**
 * What running scripts on hosts needs. `guard`, when given, runs before every remote command and
 * provider call and throws when the caller no longer holds the user's lease: a holder that was
 * paused past its TTL (and replaced) must not touch the hosts again.
 */
export type ExecDeps = Pick<EngineDeps, "run" | "sleep" | "signal"> & { guard?: () => Promise<void> };
/** What the data path needs from the engine's dependencies. */
export type HostDeps = ExecDeps & Pick<EngineDeps, "storage" | "objects" | "now" | "transfer">;

const SSH_UNREACHABLE = 255;

/**
 * Runs an idempotent script, retrying while the host cannot be reached (exit 255 is ssh's own
 * failure, e.g. a VM still booting); any other non-zero exit is the script's answer and an error.
 * `latin1`: stdin and stdout are bytes as they are (file names need not be UTF-8), one char each.
 */
export async function runScript(deps: ExecDeps, instance: Instance, what: string, script: string, stdin?: string, timeoutMs = 30 * 60_000, latin1 = false): Promise<string> {
  for (let attempt = 1; ; attempt++) {
    await deps.guard?.();
    let r: ExecResult;
    try {
      r = await deps.run(instance, script, { ...(stdin === undefined ? {} : { stdin: latin1 ? Buffer.from(stdin, "latin1") : stdin }), timeoutMs, signal: deps.signal });
    } catch (error) {
      // Not reachable yet (a VM still booting): worth another try; anything else is final.
      if (error instanceof AutomnaError && error.code === "unreachable" && attempt < 6 && !deps.signal.aborted) {
        await deps.sleep(Math.min(5000, 250 * 2 ** attempt));
        continue;
      }
      throw error;
    }
    if (r.exitCode === 0) return r.stdout.toString(latin1 ? "latin1" : "utf8");
    const err = redactPresignedUrl(r.stderr.toString("utf8").trim()).split("\n").slice(-3).join("; ");
    if (r.exitCode === SSH_UNREACHABLE && attempt < 6 && !deps.signal.aborted) {
      await deps.sleep(Math.min(5000, 250 * 2 ** attempt));
      continue;
    }
    throw new AutomnaError(`${what} on ${instance.provider} instance of ${instance.user} failed (exit ${r.exitCode})${err ? `: ${err}` : ""}`, {
      code: r.exitCode === 65 ? "checksum_mismatch" : "remote_failed",
    });
  }
}

export async function dataBytes(deps: ExecDeps, instance: Instance): Promise<number> {
  const n = Number((await runScript(deps, instance, "measuring /data", dataSizeScript(), undefined, 120_000)).trim());
  if (!Number.isSafeInteger(n)) throw new AutomnaError("du gave no size");
  return n;
}

export async function cleanupWork(deps: ExecDeps, instance: Instance, workId: string): Promise<void> {
  await runScript(deps, instance, "removing work files", cleanupScript(workId), undefined, 120_000);
}

/**
 * Holds or releases the agent the provider's way (provider.access().hold: on a VM `docker
 * stop|start automna-agent`, on Fly the machine's init). Idempotent. A VM that has just booted
 * may not have its container yet (cloud-init still running): retried for a while.
 */
export async function setAgent(deps: ExecDeps, provider: Provider, instance: Instance, running: boolean): Promise<void> {
  const access = provider.access(instance);
  for (let attempt = 1; ; attempt++) {
    try {
      await deps.guard?.();
      await access.hold(!running, (what, script, stdin) => runScript(deps, instance, what, script, stdin, 120_000));
      return;
    } catch (error) {
      if (attempt >= 8 || deps.signal.aborted) throw error;
      await deps.sleep(Math.min(5000, 200 * 2 ** attempt));
    }
  }
}

/**
 * Waits for `checks` consecutive healthy answers (any failure starts the count again). An
 * instance without an address automna can reach (a Koyeb worker) is healthy when its provider
 * says it runs: the provider checks the agent itself.
 */
export async function waitHealthy(deps: ExecDeps, instance: Instance, health: HealthSettings, provider: Provider): Promise<{ checks: number; ms: number }> {
  const host = healthHost(instance.addresses);
  const started = Date.now();
  if (!host) {
    await provider.wait(instance, "running", health.timeoutMs);
    return { checks: 1, ms: Date.now() - started };
  }
  let streak = 0;
  let last = "";
  for (;;) {
    const r = await checkHealth(host, health.port, health.path, Math.min(5000, health.timeoutMs), deps.signal);
    if (r.ok) {
      streak++;
      if (streak >= health.checks) return { checks: streak, ms: Date.now() - started };
    } else {
      streak = 0;
      last = r.status ? `HTTP ${r.status}` : (r.error ?? "no answer");
    }
    if (Date.now() - started > health.timeoutMs || deps.signal.aborted) {
      throw new AutomnaError(`the agent of ${instance.user} on ${instance.provider} did not pass ${health.checks} consecutive health checks on ${r.url} within ${Math.round(health.timeoutMs / 1000)} s (last: ${last || "ok"})`, { code: "health_failed" });
    }
    await deps.sleep(health.intervalMs);
  }
}
