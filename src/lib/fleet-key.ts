import { createCipheriv, createDecipheriv, createHash, randomBytes } from "node:crypto";
import { chmod, link, mkdir, readFile, stat, unlink, writeFile } from "node:fs/promises";
import { dirname } from "node:path";
import { AutomnaError } from "./errors.js";

/**
 * The profile's fleet key: 32 random bytes (base64, one line) in a 0600 file in the profile's data
 * directory, made on first use. It encrypts what a backup keeps of an agent's environment (its API
 * keys, bot tokens) with AES-256-GCM before it goes to object storage, so the bucket alone never
 * reveals a secret. Lose the file and the backups still restore, without their environment.
 */
export interface FleetKey {
  key: Buffer;
  /** A short fingerprint naming the key (not the key): a blob says which key sealed it. */
  id: string;
}

const KEY_BYTES = 32;

function keyOf(text: string, path: string): FleetKey {
  const key = Buffer.from(text.trim(), "base64");
  if (key.length !== KEY_BYTES) throw new AutomnaError(`the fleet key ${path} is not 32 bytes of base64`, { code: "bad_fleet_key", hint: "put back the copy you kept of it, or move it away to make a new one (older backups then restore without their environment)" });
  return { key, id: createHash("sha256").update(key).digest("hex").slice(0, 16) };
}

/** The key in `path`, or undefined when there is none. A key readable by others is made private first. */
export async function readFleetKey(path: string): Promise<FleetKey | undefined> {
  let text: string;
  try {
    text = await readFile(path, "utf8");
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "ENOENT") return undefined;
    throw error;
  }
  if (((await stat(path)).mode & 0o077) !== 0) await chmod(path, 0o600);
  return keyOf(text, path);
}

/** The key in `path`, made (0600; two backups starting at once get the same one) when absent. */
export async function fleetKey(path: string): Promise<FleetKey> {
  const have = await readFleetKey(path);
  if (have) return have;
  await mkdir(dirname(path), { recursive: true, mode: 0o700 });
  // Written whole under another name, then linked into place (which fails when it exists): a
  // concurrent first backup never reads a half-written key, and the first one made wins.
  const tmp = `${path}.${process.pid}.${randomBytes(4).toString("hex")}`;
  await writeFile(tmp, `${randomBytes(KEY_BYTES).toString("base64")}\n`, { mode: 0o600, flag: "wx" });
  try {
    await link(tmp, path);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== "EEXIST") throw error;
  } finally {
    await unlink(tmp);
  }
  return (await readFleetKey(path))!;
}

/** A sealed blob: JSON naming the key that sealed it, the nonce, the GCM tag and the ciphertext. */
interface Sealed {
  v: 1;
  alg: "AES-256-GCM";
  key: string;
  iv: string;
  tag: string;
  data: string;
}

/**
 * Encrypts `plain` with the key; `context` (what the blob belongs to: the user and backup id) is
 * authenticated too, so a blob copied onto another backup does not open.
 */
export function seal(key: FleetKey, plain: string, context: string): string {
  const iv = randomBytes(12);
  const cipher = createCipheriv("aes-256-gcm", key.key, iv);
  cipher.setAAD(Buffer.from(context));
  const data = Buffer.concat([cipher.update(plain, "utf8"), cipher.final()]);
  const sealed: Sealed = { v: 1, alg: "AES-256-GCM", key: key.id, iv: iv.toString("base64"), tag: cipher.getAuthTag().toString("base64"), data: data.toString("base64") };
  return `${JSON.stringify(sealed)}\n`;
}

/** Decrypts a blob `seal` made; a wrong key, context or a changed byte throws. */
export function unseal(key: FleetKey, text: string, context: string): string {
  let sealed: Sealed;
  try {
    sealed = JSON.parse(text) as Sealed;
  } catch {
    throw new AutomnaError("the sealed environment is not readable JSON", { code: "bad_env_blob" });
  }
  if (sealed.v !== 1 || sealed.alg !== "AES-256-GCM") throw new AutomnaError(`the sealed environment uses ${String(sealed.alg)} v${String(sealed.v)}, which this automna does not know`, { code: "bad_env_blob" });
  if (sealed.key !== key.id) throw new AutomnaError(`the environment was sealed with fleet key ${sealed.key}, this profile's is ${key.id}`, { code: "wrong_fleet_key", hint: "put back the fleet key of the profile that made the backup" });
  try {
    const decipher = createDecipheriv("aes-256-gcm", key.key, Buffer.from(sealed.iv, "base64"));
    decipher.setAAD(Buffer.from(context));
    decipher.setAuthTag(Buffer.from(sealed.tag, "base64"));
    return Buffer.concat([decipher.update(Buffer.from(sealed.data, "base64")), decipher.final()]).toString("utf8");
  } catch {
    throw new AutomnaError("the sealed environment does not open with this fleet key: changed, or made for another backup", { code: "bad_env_blob" });
  }
}
