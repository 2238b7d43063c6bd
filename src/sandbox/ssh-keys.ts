import { createHash } from "node:crypto";

const KEY_TYPES = new Set([
  "ssh-ed25519", "ssh-rsa", "ssh-dss", "ecdsa-sha2-nistp256", "ecdsa-sha2-nistp384", "ecdsa-sha2-nistp521",
  "sk-ssh-ed25519@openssh.com", "sk-ecdsa-sha2-nistp256@openssh.com",
]);

export interface ParsedPublicKey {
  type: string;
  blob: Buffer;
  /** MD5 of the key blob, colon-separated hex: what Hetzner and DigitalOcean show. */
  fingerprint: string;
}

/**
 * Parses an OpenSSH public key line (`type base64 [comment]`) the way the providers validate
 * it: a known type whose base64 blob starts with the same type name. Null when invalid.
 */
export function parsePublicKey(text: string): ParsedPublicKey | null {
  const parts = text.trim().split(/\s+/);
  if (parts.length < 2) return null;
  const [type, data] = parts as [string, string];
  if (!KEY_TYPES.has(type) || !/^[A-Za-z0-9+/]+={0,2}$/.test(data)) return null;
  const blob = Buffer.from(data, "base64");
  if (blob.length < 4) return null;
  const nameLength = blob.readUInt32BE(0);
  if (nameLength + 4 > blob.length || blob.subarray(4, 4 + nameLength).toString("latin1") !== type) return null;
  const hex = createHash("md5").update(blob).digest("hex");
  return { type, blob, fingerprint: hex.match(/../g)!.join(":") };
}
