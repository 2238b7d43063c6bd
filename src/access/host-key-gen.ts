import { generateKeyPairSync, randomBytes } from "node:crypto";
import { Secret } from "../lib/redact.js";

/**
 * An SSH host key automna makes for a machine it creates. The private half travels once, in the
 * create request's cloud-init user-data (`ssh_keys`), and is never logged or stored by automna;
 * the public half is kept in the instance's state and pinned in automna's known_hosts. The
 * provider account can read user-data back, so whoever holds the cloud token could impersonate
 * that one machine to automna — no more than they could do by controlling the machine anyway.
 */
export interface HostKeyPair {
  /** OpenSSH-format private key (`-----BEGIN OPENSSH PRIVATE KEY-----`). */
  privateKey: Secret;
  /** `ssh-ed25519 AAAA...` (no comment). */
  publicKey: string;
}

function u32(n: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeUInt32BE(n);
  return b;
}

function sshString(data: Buffer | string): Buffer {
  const bytes = typeof data === "string" ? Buffer.from(data) : data;
  return Buffer.concat([u32(bytes.length), bytes]);
}

/**
 * A fresh ed25519 host key, encoded by hand in OpenSSH's `openssh-key-v1` format (unencrypted),
 * which sshd and cloud-init read. node:crypto makes the key; the encoding is the documented one
 * (PROTOCOL.key in OpenSSH), so no third-party generator's quirks are involved.
 */
export function generateHostKeyPair(comment = ""): HostKeyPair {
  const { privateKey } = generateKeyPairSync("ed25519");
  const jwk = privateKey.export({ format: "jwk" });
  const seed = Buffer.from(jwk.d!, "base64url");
  const pub = Buffer.from(jwk.x!, "base64url");
  const type = "ssh-ed25519";
  const publicBlob = Buffer.concat([sshString(type), sshString(pub)]);
  const check = randomBytes(4);
  let section = Buffer.concat([check, check, sshString(type), sshString(pub), sshString(Buffer.concat([seed, pub])), sshString(comment)]);
  // Padding 1, 2, 3... up to the cipher block size (8 for "none").
  const pad = (8 - (section.length % 8)) % 8;
  section = Buffer.concat([section, Buffer.from(Array.from({ length: pad }, (_, i) => i + 1))]);
  const body = Buffer.concat([
    Buffer.from("openssh-key-v1\0"), sshString("none"), sshString("none"), sshString(""), u32(1), sshString(publicBlob), sshString(section),
  ]);
  const b64 = body.toString("base64").match(/.{1,70}/g)!.join("\n");
  return {
    privateKey: new Secret(`-----BEGIN OPENSSH PRIVATE KEY-----\n${b64}\n-----END OPENSSH PRIVATE KEY-----\n`),
    publicKey: `${type} ${publicBlob.toString("base64")}`,
  };
}
