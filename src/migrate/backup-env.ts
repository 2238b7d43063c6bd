import { createHash } from "node:crypto";
import { envDigest } from "../access/agent-env.js";
import { AutomnaError, NotSupportedError } from "../lib/errors.js";
import { fleetKey, readFleetKey, seal, unseal } from "../lib/fleet-key.js";
import { revealAll, type Secret } from "../lib/redact.js";
import { envFileText, refuseLineBreaks } from "../providers/vm/agent-container.js";
import { parseEnvFile } from "../providers/vm/access.js";
import type { Provider } from "../providers/types.js";
import type { Instance } from "../state/types.js";
import { backupKeys } from "./backup-catalog.js";
import { runScript, type HostDeps } from "./host.js";

/**
 * A backup's copy of the agent's environment (its `--env` values and secrets): read where the
 * provider keeps it (a VM's 0600 env file over SSH, Fly's and Koyeb's env and secrets through
 * their APIs), sealed with the profile's fleet key (src/lib/fleet-key.ts) and stored beside the
 * archive as `backups/<user>/<id>.env`. The manifest's header names the blob's sha256 and the key
 * that sealed it; the values themselves exist only in this process's memory, as Secrets.
 */

export interface StoredEnv {
  /** sha256 of the sealed blob as stored (the manifest's `# env:`). */
  sha256: string;
  /** The fleet key's fingerprint (the manifest's `# envkey:`). */
  keyId: string;
  names: string[];
}

export type EnvDeps = Pick<HostDeps, "run" | "sleep" | "signal" | "objects"> & { fleetKeyFile?: string | undefined };

function keyFile(deps: EnvDeps): string {
  if (!deps.fleetKeyFile) throw new AutomnaError("no fleet key file is known to this run", { code: "internal" });
  return deps.fleetKeyFile;
}

/** What the blob of `user`'s backup `id` is bound to: it opens for that backup only. */
function context(user: string, id: string): string {
  return `automna backup env ${user} ${id}`;
}

function sha256(text: string): string {
  return createHash("sha256").update(text).digest("hex");
}

/** Reads the agent's environment, seals it, stores it and reads it back to check what is stored. */
export async function storeBackupEnv(deps: EnvDeps, provider: Provider, instance: Instance, user: string, id: string): Promise<StoredEnv> {
  const values = await provider.access(instance).readEnv((what, script, stdin) => runScript(deps, instance, what, script, stdin));
  const names = Object.keys(values).sort();
  const key = await fleetKey(keyFile(deps));
  const blob = seal(key, envFileText(Object.fromEntries(names.map((n) => [n, values[n]!.reveal()]))), context(user, id));
  const { env } = backupKeys(user, id);
  await deps.objects.putObject(env, blob);
  const stored = await deps.objects.getText(env);
  if (stored === undefined || sha256(stored) !== sha256(blob)) throw new AutomnaError(`the stored environment ${env} does not read back as written`, { code: "verify_failed" });
  return { sha256: sha256(blob), keyId: key.id, names };
}

/** Why a backup's environment cannot be applied, or its values. */
export type BackupEnv = { values: Record<string, Secret> } | { missing: string };

/**
 * The environment a backup holds: undefined `stored` (a backup made before environments were kept)
 * or a blob that is gone, changed, or sealed with a key this profile does not have is `missing`,
 * with the reason: the agent then comes back without it, never fails for it.
 */
export async function loadBackupEnv(deps: EnvDeps, user: string, id: string, stored: { sha256: string } | undefined): Promise<BackupEnv> {
  if (!stored) return { missing: `backup ${id} was made before backups kept the agent's environment` };
  const text = await deps.objects.getText(backupKeys(user, id).env);
  if (text === undefined) return { missing: `the environment of backup ${id} is gone from the bucket` };
  if (sha256(text) !== stored.sha256) return { missing: `the environment of backup ${id} is not the one its manifest names (sha256 ${sha256(text).slice(0, 12)}, expected ${stored.sha256.slice(0, 12)})` };
  const path = keyFile(deps);
  const key = await readFleetKey(path);
  if (!key) return { missing: `this profile has no fleet key (${path}) to open it with` };
  try {
    return { values: parseEnvFile(unseal(key, text, context(user, id))) };
  } catch (error) {
    return { missing: (error as Error).message };
  }
}

/**
 * Applies a backup's environment to an instance as `env set` would (a VM's env file rewritten and
 * its container re-created; Fly's and Koyeb's through their API, the agent not restarted), or
 * says in one warning that the agent comes back without it. Returns what the journal may keep:
 * names and a digest, never a value.
 */
export async function applyBackupEnv(deps: EnvDeps, provider: Provider, instance: Instance, env: BackupEnv, o: { port: number; warn: (text: string) => void; user: string }): Promise<{ names: string[]; digest: string | null; summary: string }> {
  if ("missing" in env) {
    o.warn(`the agent comes back without its environment: ${env.missing}; set it with automna env set ${o.user}`);
    return { names: [], digest: null, summary: "no environment to carry" };
  }
  refuseLineBreaks("value of", revealAll(env.values));
  const names = Object.keys(env.values).sort();
  try {
    if (names.length) await provider.access(instance).updateEnv({ set: env.values, unset: [] }, (what, script, stdin) => runScript(deps, instance, what, script, stdin), { port: o.port, restart: false });
  } catch (error) {
    // A provider that keeps no environment of its own (a Cloudflare sandbox's comes from its Worker): said, never a reason to stay down.
    if (!(error instanceof NotSupportedError)) throw error;
    o.warn(`the agent comes back without its environment: ${error.message}; ${error.hint ?? ""}`.replace(/; $/, ""));
    return { names: [], digest: null, summary: "the target keeps no environment of its own" };
  }
  return { names, digest: envDigest(env.values), summary: names.length ? `${names.length} variable${names.length === 1 ? "" : "s"} set (${names.join(", ")})` : "the backup's environment is empty" };
}
