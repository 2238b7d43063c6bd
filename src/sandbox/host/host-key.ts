import { createHash } from "node:crypto";
import { chmod, mkdir, readFile, writeFile } from "node:fs/promises";
import { dirname } from "node:path";
import ssh2 from "ssh2";

/** A host key ready for the SSH server, with what a cloud-init would publish about it. */
export interface HostKey {
  /** The private key as given or generated (OpenSSH or PEM format). */
  privateKey: string;
  /** The OpenSSH public key line without comment: `ssh-ed25519 AAAA...`. */
  publicLine: string;
  /** `SHA256:...`, as `ssh-keygen -lf` and the ssh client print it. */
  fingerprint: string;
}

/** Parses a private key and derives its public line and fingerprint. Throws on a bad key. */
export function describeHostKey(privateKey: string): HostKey {
  const parsed = ssh2.utils.parseKey(privateKey);
  if (parsed instanceof Error) throw new Error(`host key: ${parsed.message}`);
  const key = Array.isArray(parsed) ? (parsed[0] as ssh2.ParsedKey | undefined) : parsed;
  if (!key || !key.isPrivateKey()) throw new Error("host key: not a private key");
  const blob = key.getPublicSSH();
  return { privateKey, publicLine: `${key.type} ${blob.toString("base64")}`, fingerprint: fingerprintOf(blob) };
}

/** OpenSSH's SHA256 fingerprint of a public key blob: unpadded base64 of its digest. */
export function fingerprintOf(blob: Buffer): string {
  return `SHA256:${createHash("sha256").update(blob).digest("base64").replace(/=+$/, "")}`;
}

/**
 * The host's key: the given one, else the one persisted at `path`, else a fresh ed25519 key
 * written there (0600, with a `.pub` beside it like /etc/ssh/ssh_host_ed25519_key), so a host
 * keeps its identity across sandbox restarts just as a real machine does across reboots.
 */
export async function loadOrCreateHostKey(path: string, given?: string): Promise<HostKey> {
  if (given) return describeHostKey(given);
  try {
    return describeHostKey(await readFile(path, "utf8"));
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== "ENOENT") throw error;
  }
  await mkdir(dirname(path), { recursive: true });
  await writeFile(path, generateHostKey(), { mode: 0o600, flag: "wx" }).catch(async (error: NodeJS.ErrnoException) => {
    // Another start of the same host won the race: use its key, never overwrite it.
    if (error.code !== "EEXIST") throw error;
  });
  const key = describeHostKey(await readFile(path, "utf8"));
  await chmod(path, 0o600);
  await writeFile(`${path}.pub`, `${key.publicLine}\n`);
  return key;
}

/**
 * A fresh ed25519 private key in OpenSSH format. ssh2's generator drops a leading zero byte of
 * the key (about 1 key in 400 comes out malformed), so each key is proven by a signature made
 * with it and verified against its published half before it is used.
 */
export function generateHostKey(): string {
  for (let attempt = 0; attempt < 20; attempt += 1) {
    const pair = ssh2.utils.generateKeyPairSync("ed25519", { comment: "" });
    const priv = ssh2.utils.parseKey(pair.private);
    const pub = ssh2.utils.parseKey(pair.public);
    if (priv instanceof Error || pub instanceof Error || Array.isArray(priv) || Array.isArray(pub)) continue;
    const probe = Buffer.from(`automna host key ${attempt}`);
    if (priv.getPublicSSH().length === 51 && pub.verify(probe, priv.sign(probe))) return pair.private;
  }
  throw new Error("could not generate a valid ed25519 host key");
}

/**
 * The block cloud-init writes to the machine's console at first boot (its `keys_to_console`
 * module), with the key fingerprints and the public keys between fixed markers. A provider
 * stand-in can publish this as the server's console output; automna reads the keys back with
 * `hostKeysFromConsole` (src/lib/known-hosts.ts).
 */
export function consoleHostKeyBlock(key: Pick<HostKey, "publicLine" | "fingerprint">, hostname: string): string {
  return [
    "-----BEGIN SSH HOST KEY FINGERPRINTS-----",
    `256 ${key.fingerprint} root@${hostname} (ED25519)`,
    "-----END SSH HOST KEY FINGERPRINTS-----",
    "-----BEGIN SSH HOST KEY KEYS-----",
    `${key.publicLine} root@${hostname}`,
    "-----END SSH HOST KEY KEYS-----",
    "",
  ].join("\n");
}
