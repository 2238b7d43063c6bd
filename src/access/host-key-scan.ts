import { createHash } from "node:crypto";
import { setTimeout as delay } from "node:timers/promises";
import { AutomnaError, isAbortError } from "../lib/errors.js";
import { hostPattern, normalizeHostKey } from "../lib/known-hosts.js";

/** A host key as a machine presented it, with the fingerprint an operator compares. */
export interface ScannedHostKey {
  /** `type base64`, as pinned. */
  key: string;
  /** `SHA256:...`, as `ssh-keygen -lf` and the ssh client print it. */
  fingerprint: string;
}

/** OpenSSH's SHA256 fingerprint of a public key line (`type base64`). */
export function hostKeyFingerprint(key: string): string {
  const blob = Buffer.from(key.split(" ")[1] ?? "", "base64");
  return `SHA256:${createHash("sha256").update(blob).digest("base64").replace(/=+$/, "")}`;
}

/**
 * The host keys a machine presents right now, read with OpenSSH's `ssh-keyscan` (ed25519 first).
 * This is trust on first use: only `automna import --accept-host-key` calls it, for machines
 * automna did not make and so never learned a key for. Fails when the machine answers with none.
 */
export async function scanHostKeys(address: string, port: number, options: { signal?: AbortSignal; timeoutSec?: number } = {}): Promise<ScannedHostKey[]> {
  const { execFile } = await import("node:child_process");
  const where = hostPattern(address, port);
  const args = ["-T", String(options.timeoutSec ?? 10), "-t", "ed25519,ecdsa,rsa", ...(port === 22 ? [] : ["-p", String(port)]), "--", address];
  let stdout = "";
  let why = "";
  // Like ssh's ConnectionAttempts (3, a second apart): a machine just reported running may not
  // have sshd listening yet.
  for (let attempt = 1; attempt <= 3 && stdout.trim() === ""; attempt++) {
    if (attempt > 1) await delay(1000, undefined, { signal: options.signal });
    try {
      ({ stdout, why } = await new Promise<{ stdout: string; why: string }>((resolve, reject) => {
        execFile("ssh-keyscan", args, { signal: options.signal, maxBuffer: 1 << 20 }, (error, out, err) => {
          if (error && (error as NodeJS.ErrnoException).code === "ENOENT") reject(error);
          else if (error?.name === "AbortError") reject(error);
          else resolve({ stdout: out, why: err.split("\n").map((l) => l.replace(/^#.*/, "").trim()).filter(Boolean).at(-1) ?? (error ? `exit ${String(error.code)}` : "") });
        });
      }));
    } catch (error) {
      if (isAbortError(error)) throw error;
      throw new AutomnaError("ssh-keyscan (OpenSSH) is not installed", { code: "ssh_missing", hint: "install the OpenSSH client" });
    }
  }
  const keys: ScannedHostKey[] = [];
  for (const line of stdout.split("\n")) {
    if (!line.trim() || line.startsWith("#")) continue;
    try {
      const key = normalizeHostKey(line.trim().split(/\s+/).slice(1, 3).join(" "));
      if (!keys.some((k) => k.key === key)) keys.push({ key, fingerprint: hostKeyFingerprint(key) });
    } catch {
      // Not a key line.
    }
  }
  if (keys.length === 0) {
    throw new AutomnaError(`could not read the SSH host key of ${where}${why ? `: ${why}` : ": it presented none"}`, { code: "unreachable", hint: "is the machine running and its SSH port open (ssh.port)?" });
  }
  const rank = (k: ScannedHostKey): number => ["ssh-ed25519", "ecdsa", "ssh-rsa"].findIndex((t) => k.key.startsWith(t));
  return keys.sort((a, b) => rank(a) - rank(b));
}
