import { checkHealth, healthHost } from "../lib/health.js";
import { AutomnaError } from "../lib/errors.js";
import { presignUrl, redactPresignedUrl } from "../lib/s3-presign.js";
import type { Provider } from "../providers/types.js";
import type { Instance } from "../state/types.js";
import { parseManifest, type Manifest } from "./manifest.js";
import {
  archiveAllScript, archiveListScript, cleanupScript, curlConfig, dataSizeScript, describeArchiveScript, dockerScript, manifestScript, parseKv, restoreScript, uploadScript,
} from "./scripts.js";
import type { EngineDeps, ExecResult, HealthSettings } from "./types.js";

/**
 * What running scripts on hosts needs. `guard`, when given, runs before every remote command and
 * provider call and throws when the caller no longer holds the user's lease: a holder that was
 * paused past its TTL (and replaced) must not touch the hosts again.
 */
export type ExecDeps = Pick<EngineDeps, "run" | "sleep" | "signal"> & { guard?: () => Promise<void> };
/** What the data path needs from the engine's dependencies. */
export type HostDeps = ExecDeps & Pick<EngineDeps, "storage" | "objects" | "now">;

/** An archive on a host: its sha256 and size. */
export interface ArchiveInfo {
  sha256: string;
  bytes: number;
}

const SSH_UNREACHABLE = 255;

/**
 * Runs an idempotent script, retrying while the host cannot be reached (exit 255 is ssh's own
 * failure, e.g. a VM still booting); any other non-zero exit is the script's answer and an error.
 */
export async function runScript(deps: ExecDeps, instance: Instance, what: string, script: string, stdin?: string, timeoutMs = 30 * 60_000): Promise<string> {
  for (let attempt = 1; ; attempt++) {
    await deps.guard?.();
    let r: ExecResult;
    try {
      r = await deps.run(instance, script, { ...(stdin === undefined ? {} : { stdin }), timeoutMs, signal: deps.signal });
    } catch (error) {
      // Not reachable yet (a VM still booting): worth another try; anything else is final.
      if (error instanceof AutomnaError && error.code === "unreachable" && attempt < 6 && !deps.signal.aborted) {
        await deps.sleep(Math.min(5000, 250 * 2 ** attempt));
        continue;
      }
      throw error;
    }
    if (r.exitCode === 0) return r.stdout.toString("utf8");
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

function presign(deps: HostDeps, method: "PUT" | "GET", key: string): string {
  const s = deps.storage;
  return presignUrl({ method, endpoint: s.endpoint, bucket: s.bucket, key, region: s.region, accessKeyId: s.accessKeyId, secretAccessKey: s.secretAccessKey, expiresInSeconds: 6 * 3600, now: deps.now() });
}

function archiveInfo(text: string, what: string): ArchiveInfo {
  const kv = parseKv(text);
  const bytes = Number(kv.bytes);
  if (!/^[0-9a-f]{64}$/.test(kv.sha256 ?? "") || !Number.isSafeInteger(bytes)) throw new AutomnaError(`${what}: unexpected answer from the host: ${text.slice(0, 200)}`);
  return { sha256: kv.sha256!, bytes };
}

/** Tars all of /data into the work directory. */
export async function archiveAll(deps: ExecDeps, instance: Instance, workId: string, name: string, live: boolean): Promise<ArchiveInfo> {
  return archiveInfo(await runScript(deps, instance, `archiving /data (${name})`, archiveAllScript(workId, name, live)), name);
}

/** Tars the listed paths of /data into the work directory. */
export async function archiveList(deps: ExecDeps, instance: Instance, workId: string, name: string, paths: string[]): Promise<ArchiveInfo> {
  return archiveInfo(await runScript(deps, instance, `archiving changed files (${name})`, archiveListScript(workId, name), paths.map((p) => `${p}\n`).join("")), name);
}

/** The archive still waiting in the work directory, or undefined. */
export async function describeArchive(deps: ExecDeps, instance: Instance, workId: string, name: string): Promise<(ArchiveInfo & { md5?: string }) | undefined> {
  const text = await runScript(deps, instance, `checking ${name}.tar`, describeArchiveScript(workId, name));
  if (text.trim() === "missing") return undefined;
  const kv = parseKv(text);
  return { ...archiveInfo(text, name), ...(kv.md5 ? { md5: kv.md5 } : {}) };
}

/**
 * Uploads an archive unless the object is already there with the same bytes (a resumed upload
 * whose PUT had landed): HEAD first, compare size and (single-part) ETag with the local file.
 */
export async function uploadArchive(deps: HostDeps, instance: Instance, workId: string, name: string, key: string, expected: ArchiveInfo, resumed: boolean): Promise<{ uploaded: boolean }> {
  if (resumed) {
    const [head, local] = await Promise.all([deps.objects.headObject(key), describeArchive(deps, instance, workId, name)]);
    if (!local || local.sha256 !== expected.sha256) {
      throw new AutomnaError(`the ${name} archive on the source is ${local ? "not the one journaled" : "gone"}; it cannot be uploaded again`, { code: "archive_lost", hint: "roll the migration back and start it again" });
    }
    const etag = head?.etag.replace(/"/g, "");
    if (head && head.size === expected.bytes && (!local.md5 || !/^[0-9a-f]{32}$/.test(etag ?? "") || etag === local.md5)) return { uploaded: false };
  }
  await runScript(deps, instance, `uploading ${name}.tar`, uploadScript(workId, name), curlConfig(presign(deps, "PUT", key)));
  return { uploaded: true };
}

/**
 * Downloads, verifies and applies an archive on the target (see restoreScript); returns the
 * target's manifest taken right after, in the same remote command.
 */
export async function restoreArchive(deps: HostDeps, instance: Instance, workId: string, name: string, key: string, sha256: string, mode: "replace" | "apply", remove: string[] = []): Promise<Manifest> {
  const stdin = curlConfig(presign(deps, "GET", key)) + remove.map((p) => `${p}\n`).join("");
  return parseManifest(await runScript(deps, instance, `restoring ${name}.tar`, restoreScript(workId, name, sha256, mode, true), stdin));
}

export async function manifest(deps: ExecDeps, instance: Instance, workId: string): Promise<Manifest> {
  return parseManifest(await runScript(deps, instance, "listing /data with checksums", manifestScript(workId)));
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
 * Stops or starts the agent: through the provider's API where it can hold the agent (Fly),
 * otherwise `docker stop|start automna-agent` on the host. Both are idempotent. A VM that has
 * just booted may not have its container yet (cloud-init still running): retried for a while.
 */
export async function setAgent(deps: ExecDeps, provider: Provider, instance: Instance, running: boolean): Promise<void> {
  if (provider.holdAgent) {
    await deps.guard?.();
    return provider.holdAgent({ resources: instance.resources }, !running);
  }
  const script = dockerScript(running ? "start" : "stop");
  for (let attempt = 1; ; attempt++) {
    try {
      await runScript(deps, instance, running ? "starting the agent" : "stopping the agent", script, undefined, 120_000);
      return;
    } catch (error) {
      if (attempt >= 8 || deps.signal.aborted) throw error;
      await deps.sleep(Math.min(5000, 200 * 2 ** attempt));
    }
  }
}

/** Waits for `checks` consecutive healthy answers (any failure starts the count again). */
export async function waitHealthy(deps: ExecDeps, instance: Instance, health: HealthSettings): Promise<{ checks: number; ms: number }> {
  const host = healthHost(instance.addresses);
  if (!host) throw new AutomnaError(`the ${instance.provider} instance of ${instance.user} has no address to check`, { code: "health_failed" });
  const started = Date.now();
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
