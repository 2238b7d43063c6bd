import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, test } from "vitest";
import { defaultKnownHostsPath, hostKeyFailure, hostKeysFromConsole, hostPattern, normalizeHostKey, pinHostKeys, pinnedKeys, shellJoin, shellQuote, sshArgs, unpinHost } from "../../src/lib/known-hosts.js";

const dir = mkdtempSync(join(tmpdir(), "automna-kh-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function realKey(name: string): string {
  execFileSync("ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-f", join(dir, name)]);
  return readFileSync(join(dir, `${name}.pub`), "utf8").trim();
}

describe("known_hosts pinning", () => {
  test("lives in automna's data directory", () => {
    expect(defaultKnownHostsPath({ XDG_DATA_HOME: "/x/share" })).toBe("/x/share/automna/known_hosts");
    expect(defaultKnownHostsPath({ HOME: "/home/op" })).toBe("/home/op/.local/share/automna/known_hosts");
  });

  test("pins per address and port, replaces on re-pin, unpins", async () => {
    const file = join(dir, "sub", "known_hosts");
    const a = realKey("a");
    const b = realKey("b");
    const c = realKey("c");
    expect(await pinHostKeys(file, { address: "127.77.0.5", port: 2222, keys: [a] })).toEqual({ changed: true });
    expect(await pinHostKeys(file, { address: "127.77.0.6", keys: [`${b} root@cloud-init`] })).toEqual({ changed: true });
    expect(await pinHostKeys(file, { address: "127.77.0.5", port: 2222, keys: [a] })).toEqual({ changed: false });
    expect(await pinHostKeys(file, { address: "127.77.0.5", port: 2222, keys: [c] })).toEqual({ changed: true });
    const strip = (k: string) => k.split(" ").slice(0, 2).join(" ");
    // The re-pin replaced the entry in place.
    expect(readFileSync(file, "utf8")).toBe(`[127.77.0.5]:2222 ${strip(c)}\n127.77.0.6 ${strip(b)}\n`);
    expect(statSync(file).mode & 0o777).toBe(0o600);
    expect(await pinnedKeys(file, "127.77.0.5", 2222)).toEqual([strip(c)]);
    // ssh-keygen reads the file the same way ssh will.
    expect(execFileSync("ssh-keygen", ["-F", "[127.77.0.5]:2222", "-f", file]).toString()).toContain(strip(c));
    expect(await unpinHost(file, "127.77.0.6")).toEqual({ changed: true });
    expect(await unpinHost(file, "127.77.0.6")).toEqual({ changed: false });
    expect(readFileSync(file, "utf8")).toBe(`[127.77.0.5]:2222 ${strip(c)}\n`);
  });

  test("concurrent pins from one process all land", async () => {
    const file = join(dir, "concurrent");
    const key = realKey("d");
    await Promise.all(Array.from({ length: 20 }, (_, i) => pinHostKeys(file, { address: `127.77.9.${i}`, keys: [key] })));
    expect(readFileSync(file, "utf8").split("\n").filter(Boolean)).toHaveLength(20);
  });

  test("refuses values that are not a single public host key", async () => {
    const key = realKey("e");
    expect(normalizeHostKey(`${key} comment here`)).toBe(key.split(" ").slice(0, 2).join(" "));
    expect(() => normalizeHostKey(`${key}\n@cert-authority * ${key}`)).toThrow(/not an OpenSSH public host key/);
    expect(() => normalizeHostKey("ssh-rsa AAAAC3NzaC1lZDI1NTE5AAAAIB")).toThrow(/does not match its type/);
    expect(() => normalizeHostKey("ssh-dss AAAA")).toThrow(/not an OpenSSH public host key/);
    await expect(pinHostKeys(join(dir, "bad"), { address: "-oProxyCommand=x", keys: [key] })).rejects.toThrow(/not a host address/);
    expect(hostPattern("10.0.0.1")).toBe("10.0.0.1");
    expect(hostPattern("2001:db8::1", 2222)).toBe("[2001:db8::1]:2222");
  });
});

describe("ssh argv", () => {
  test("host-key options first, then the operator's, then overridable defaults", () => {
    expect(sshArgs({ address: "127.77.0.5", port: 2222, user: "root", identityFile: "/k/id", knownHostsFile: "/kh", extraOptions: ["ConnectTimeout=3"], command: "uptime" })).toEqual([
      "-o", "StrictHostKeyChecking=yes", "-o", "UserKnownHostsFile=/kh", "-o", "GlobalKnownHostsFile=/dev/null", "-o", "UpdateHostKeys=no",
      "-o", "ConnectTimeout=3",
      "-o", "BatchMode=yes", "-o", "ConnectTimeout=10",
      "-i", "/k/id", "-o", "IdentitiesOnly=yes", "-p", "2222", "root@127.77.0.5", "--", "uptime",
    ]);
    expect(sshArgs({ address: "10.0.0.1", knownHostsFile: "/kh", tty: "force" }).slice(-2)).toEqual(["-tt", "root@10.0.0.1"]);
    expect(sshArgs({ address: "10.0.0.1", knownHostsFile: "/Library/Application Support/automna/known_hosts" })[3]).toBe('UserKnownHostsFile="/Library/Application Support/automna/known_hosts"');
    expect(sshArgs({ address: "10.0.0.1", knownHostsFile: "/kh", command: ["ls", "-l", "my dir"] }).slice(-2)).toEqual(["--", "ls -l 'my dir'"]);
    expect(() => sshArgs({ address: "10.0.0.1", knownHostsFile: "/kh", extraOptions: ["-oProxyCommand=evil"] })).toThrow(/Key=Value/);
    expect(() => sshArgs({ address: "10.0.0.1", knownHostsFile: "/kh", user: "-oops" })).toThrow(/not a user name/);
  });

  test("quoting survives a real shell word for word", () => {
    const words = ["plain", "two words", "it's", "$HOME", "`id`", "*", "", "a\nb", "--flag=x", "ü"];
    expect(shellQuote("plain")).toBe("plain");
    expect(shellQuote("it's")).toBe(`'it'\\''s'`);
    const out = execFileSync("/bin/sh", ["-c", `printf '[%s]' ${shellJoin(words)}`]).toString();
    expect(out).toBe(words.map((w) => `[${w}]`).join(""));
  });

  test("ssh's host-key complaints are told apart", () => {
    expect(hostKeyFailure("@@@@\n@    WARNING: REMOTE HOST IDENTIFICATION HAS CHANGED!     @\n")).toBe("changed");
    expect(hostKeyFailure("No ED25519 host key is known for [127.77.0.5]:2222 and you have requested strict checking.\nHost key verification failed.\n")).toBe("unpinned");
    expect(hostKeyFailure("ssh: connect to host 127.77.0.5 port 22: Connection refused\n")).toBeUndefined();
  });
});

describe("host keys published on a console", () => {
  test("keys between cloud-init's markers are read; anything else is not", () => {
    const key = realKey("console");
    const [type, data] = key.split(" ");
    const text = [
      "ci-info: no authorized SSH keys fingerprints found for user root.",
      `${type} ${data} outside-the-markers`,
      "<14>Nov 29 12:00:00 cloud-init: -----BEGIN SSH HOST KEY KEYS-----",
      `<14>Nov 29 12:00:00 cloud-init: ${type} ${data} root@web-1`,
      "<14>Nov 29 12:00:00 cloud-init: ssh-rsa not-base64!! root@web-1",
      "<14>Nov 29 12:00:00 cloud-init: -----END SSH HOST KEY KEYS-----",
    ].join("\r\n");
    expect(hostKeysFromConsole(text)).toEqual([`${type} ${data}`]);
    expect(hostKeysFromConsole("no markers here")).toEqual([]);
  });
});
