import { createHash } from "node:crypto";

const ALPHABET = "abcdefghijklmnopqrstuvwxyz234567";

/** Bytes as lowercase RFC 4648 base32 without padding (the Cloudflare Sandbox bridge's ID alphabet). */
export function base32(bytes: Uint8Array): string {
  let out = "";
  let bits = 0;
  let value = 0;
  for (const b of bytes) {
    value = ((value << 8) | b) & 0xffff;
    bits += 8;
    while (bits >= 5) {
      out += ALPHABET[(value >>> (bits - 5)) & 31];
      bits -= 5;
    }
  }
  if (bits > 0) out += ALPHABET[(value << (5 - bits)) & 31];
  return out;
}

/** A user's deterministic Cloudflare sandbox ID: 26 base32 characters of a hash of the user id. */
export function sandboxIdForUser(user: string): string {
  return base32(createHash("sha256").update(`user:${user}`).digest()).slice(0, 26);
}
