import { execFileSync } from "node:child_process";
import { mkdtempSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, expect, test } from "vitest";
import { describeHostKey, generateHostKey, loadOrCreateHostKey } from "../../src/sandbox/host/host-key.js";

const dir = mkdtempSync(join(tmpdir(), "automna-hostkey-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

test("every generated host key is well-formed (ssh2 alone gets ~1 in 400 wrong)", () => {
  for (let i = 0; i < 600; i += 1) expect(describeHostKey(generateHostKey()).publicLine).toMatch(/^ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAI[A-Za-z0-9+/]{43}$/);
});

test("a key is created once, kept 0600, and a given key wins", async () => {
  const path = join(dir, "etc", "ssh_host_ed25519_key");
  const first = await loadOrCreateHostKey(path);
  expect(statSync(path).mode & 0o777).toBe(0o600);
  expect((await loadOrCreateHostKey(path)).publicLine).toBe(first.publicLine);
  // An OpenSSH-made key given explicitly (what an operator could pass) is used as is.
  execFileSync("ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-f", join(dir, "given")]);
  const given = execFileSync("cat", [join(dir, "given")]).toString();
  const fromGiven = await loadOrCreateHostKey(path, given);
  expect(`${fromGiven.publicLine} `).toBe(execFileSync("cat", [join(dir, "given.pub")]).toString().split(" ").slice(0, 2).join(" ") + " ");
  expect(execFileSync("ssh-keygen", ["-l", "-f", join(dir, "given.pub")]).toString()).toContain(fromGiven.fingerprint);
  writeFileSync(join(dir, "junk"), "not a key");
  await expect(loadOrCreateHostKey(join(dir, "junk"))).rejects.toThrow(/host key/);
});
