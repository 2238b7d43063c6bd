import { execFileSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import ssh2 from "ssh2";
import { describe, expect, it } from "vitest";
import { generateHostKeyPair } from "../../src/access/host-key-gen.js";
import { normalizeHostKey } from "../../src/lib/known-hosts.js";

describe("generateHostKeyPair", () => {
  it("makes OpenSSH ed25519 keys that ssh-keygen and ssh2 read back to the published public half", () => {
    const dir = mkdtempSync(join(tmpdir(), "automna-hk-"));
    try {
      for (let i = 0; i < 3; i++) {
        const key = generateHostKeyPair();
        const file = join(dir, `k${i}`);
        writeFileSync(file, key.privateKey.reveal(), { mode: 0o600 });
        expect(execFileSync("ssh-keygen", ["-y", "-f", file]).toString().trim()).toBe(key.publicKey);
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
    // Many more through ssh2 (what the sandbox host uses), cheaply: every one must parse and match.
    for (let i = 0; i < 300; i++) {
      const key = generateHostKeyPair();
      const parsed = ssh2.utils.parseKey(key.privateKey.reveal());
      if (parsed instanceof Error) throw parsed;
      const one = Array.isArray(parsed) ? parsed[0]! : parsed;
      expect(`${one.type} ${one.getPublicSSH().toString("base64")}`).toBe(key.publicKey);
      const probe = Buffer.from(`probe ${i}`);
      expect(one.verify(probe, one.sign(probe))).toBe(true);
    }
  });

  it("never prints the private half; the public half is a valid host key line", () => {
    const key = generateHostKeyPair();
    expect(String(key.privateKey)).toBe("***");
    expect(JSON.stringify(key)).not.toContain("PRIVATE");
    expect(normalizeHostKey(key.publicKey)).toBe(key.publicKey);
    expect(generateHostKeyPair().publicKey).not.toBe(key.publicKey);
  });
});
