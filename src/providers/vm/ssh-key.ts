import { createHash } from "node:crypto";
import { readFileSync } from "node:fs";
import { ConfigError } from "../../lib/errors.js";

export interface PublicKey {
  /** The key line as written in the .pub file. */
  text: string;
  /** MD5 fingerprint in colon-hex, the form Hetzner and DigitalOcean use to identify keys. */
  fingerprint: string;
}

/** Reads an OpenSSH public key file (config `ssh.publicKey`) and computes its fingerprint. */
export function readPublicKey(path: string): PublicKey {
  let text: string;
  try {
    text = readFileSync(path, "utf8").trim().split("\n")[0]!.trim();
  } catch (error) {
    throw new ConfigError(`cannot read the SSH public key ${path}: ${(error as Error).message}`, { hint: "set ssh.publicKey to a .pub file" });
  }
  const blob = text.split(/\s+/)[1];
  if (!blob || !/^ssh-|^ecdsa-/.test(text)) throw new ConfigError(`${path} is not an OpenSSH public key`, { hint: "set ssh.publicKey to a .pub file" });
  const digest = createHash("md5").update(Buffer.from(blob, "base64")).digest("hex");
  return { text, fingerprint: digest.match(/../g)!.join(":") };
}
