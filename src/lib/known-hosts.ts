import { chmod, mkdir, readFile, rename, writeFile } from "node:fs/promises";
import { dirname, join } from "node:path";
import { automnaDataDir } from "./paths.js";

/**
 * automna's own known_hosts: host keys pinned from what the provider published for each machine
 * automna created (cloud-init output, the sandbox's metadata), never learned on first connect.
 * ssh runs with this file only and `StrictHostKeyChecking=yes`, so a machine answering with any
 * other key is refused.
 */
export function defaultKnownHostsPath(env: NodeJS.ProcessEnv): string {
  return join(automnaDataDir(env), "known_hosts");
}

/** The known_hosts host pattern: the bare address for port 22, `[address]:port` otherwise. */
export function hostPattern(address: string, port = 22): string {
  return port === 22 ? address : `[${address}]:${port}`;
}

const KEY_TYPES = new Set([
  "ssh-ed25519", "ssh-rsa", "ecdsa-sha2-nistp256", "ecdsa-sha2-nistp384", "ecdsa-sha2-nistp521",
  "sk-ssh-ed25519@openssh.com", "sk-ecdsa-sha2-nistp256@openssh.com",
]);

/**
 * Validates a published host key (`type base64 [comment]`) and returns `type base64`. Strict on
 * purpose: the value comes from a provider API, and a newline or a `@cert-authority` marker in it
 * must not become a line of trust in the file.
 */
export function normalizeHostKey(line: string): string {
  const parts = line.trim().split(/[ \t]+/);
  const [type = "", data = ""] = parts;
  if (!KEY_TYPES.has(type) || !/^[A-Za-z0-9+/]+={0,2}$/.test(data) || /[\r\n]/.test(line)) {
    throw new Error(`not an OpenSSH public host key: ${JSON.stringify(line.slice(0, 60))}`);
  }
  const blob = Buffer.from(data, "base64");
  // The blob starts with its own type name; a mismatch means a corrupted or forged value.
  const nameLength = blob.length >= 4 ? blob.readUInt32BE(0) : -1;
  if (nameLength < 0 || blob.subarray(4, 4 + nameLength).toString("latin1") !== type) {
    throw new Error(`host key data does not match its type ${type}`);
  }
  return `${type} ${data}`;
}

function validateAddress(address: string): void {
  // An address from an API ends up in ssh's argv and in the file: no options, spaces or patterns.
  if (!/^[A-Za-z0-9][A-Za-z0-9.:-]*$/.test(address)) throw new Error(`not a host address: ${JSON.stringify(address)}`);
}

// Pins from concurrent tasks of one process (a bulk provision) must not overwrite each other.
const queues = new Map<string, Promise<unknown>>();
function serialized<T>(file: string, fn: () => Promise<T>): Promise<T> {
  const next = (queues.get(file) ?? Promise.resolve()).then(fn);
  const tail = next.catch(() => undefined);
  queues.set(file, tail);
  void tail.then(() => {
    if (queues.get(file) === tail) queues.delete(file);
  });
  return next;
}

async function readLines(file: string): Promise<string[]> {
  try {
    return (await readFile(file, "utf8")).split("\n").filter((l) => l.trim().length > 0);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "ENOENT") return [];
    throw error;
  }
}

async function writeLines(file: string, lines: string[]): Promise<void> {
  await mkdir(dirname(file), { recursive: true, mode: 0o700 });
  const tmp = `${file}.${process.pid}.tmp`;
  await writeFile(tmp, lines.length ? `${lines.join("\n")}\n` : "", { mode: 0o600 });
  await chmod(tmp, 0o600);
  await rename(tmp, file);
}

const patternOf = (line: string) => line.split(/[ \t]+/)[0] ?? "";

/**
 * Pins `keys` for `address:port`, replacing whatever was pinned for it before (a machine
 * re-created at the same address has new keys). Returns whether the file changed.
 */
export async function pinHostKeys(file: string, target: { address: string; port?: number; keys: string[] }): Promise<{ changed: boolean }> {
  validateAddress(target.address);
  const pattern = hostPattern(target.address, target.port);
  const keys = [...new Set(target.keys.map(normalizeHostKey))];
  if (keys.length === 0) throw new Error(`no host key to pin for ${pattern}`);
  return serialized(file, async () => {
    const lines = await readLines(file);
    const at = lines.findIndex((l) => patternOf(l) === pattern);
    const kept = lines.filter((l) => patternOf(l) !== pattern);
    // A re-pin takes the old entry's place, so pinning what is already there changes nothing.
    const next = [...kept];
    next.splice(at < 0 ? kept.length : at, 0, ...keys.map((k) => `${pattern} ${k}`));
    const changed = next.join("\n") !== lines.join("\n");
    if (changed) await writeLines(file, next);
    return { changed };
  });
}

/**
 * The host keys in a machine's console output, between cloud-init's `BEGIN/END SSH HOST KEY
 * KEYS` markers (syslog prefixes such as `<14>Nov 29 12:00:00 cloud-init: ` allowed). Lines that
 * are not valid public keys are skipped; an empty result means nothing trustworthy was published.
 */
export function hostKeysFromConsole(text: string): string[] {
  const keys: string[] = [];
  let inside = false;
  for (const raw of text.split(/\r?\n/)) {
    const line = raw.replace(/^.*?(?=-----(?:BEGIN|END) SSH HOST KEY KEYS-----)/, "").replace(/^<\d+>.*?cloud-init: /, "");
    if (line.startsWith("-----BEGIN SSH HOST KEY KEYS-----")) inside = true;
    else if (line.startsWith("-----END SSH HOST KEY KEYS-----")) inside = false;
    else if (inside) {
      try {
        keys.push(normalizeHostKey(line));
      } catch {
        // not a key line
      }
    }
  }
  return [...new Set(keys)];
}

/** Removes what was pinned for `address:port` (the machine was destroyed). */
export async function unpinHost(file: string, address: string, port?: number): Promise<{ changed: boolean }> {
  const pattern = hostPattern(address, port);
  return serialized(file, async () => {
    const lines = await readLines(file);
    const kept = lines.filter((l) => patternOf(l) !== pattern);
    if (kept.length === lines.length) return { changed: false };
    await writeLines(file, kept);
    return { changed: true };
  });
}

/** The keys pinned for `address:port` (`type base64`). */
export async function pinnedKeys(file: string, address: string, port?: number): Promise<string[]> {
  const pattern = hostPattern(address, port);
  return (await readLines(file)).filter((l) => patternOf(l) === pattern).map((l) => l.split(/[ \t]+/).slice(1, 3).join(" "));
}

/** Quotes one word for a POSIX shell; safe words stay as they are. */
export function shellQuote(word: string): string {
  if (/^[A-Za-z0-9_@%+=:,./-]+$/.test(word)) return word;
  return `'${word.replace(/'/g, `'\\''`)}'`;
}

/** Quotes each word and joins them: what the remote shell must see to get exactly these argv words. */
export function shellJoin(words: string[]): string {
  return words.map(shellQuote).join(" ");
}

export interface SshArgsOptions {
  address: string;
  /** Default 22 (then no `-p`). */
  port?: number;
  /** Default root. */
  user?: string;
  identityFile?: string;
  knownHostsFile: string;
  /** `ssh.options` from config: `Key=Value` each, passed as `-o`. They cannot loosen host-key checking. */
  extraOptions?: string[];
  /** Default 10 seconds. */
  connectTimeoutSec?: number;
  /** An ssh config file to use instead of ~/.ssh/config (tests pass /dev/null). */
  configFile?: string;
  /**
   * A string is a remote shell command line, sent as is; an array is argv words, each quoted so
   * the remote shell sees them unchanged (ssh itself joins its arguments with spaces).
   */
  command?: string | string[];
  /** true: `-t` (a pty if local stdin is a terminal), "force": `-tt`, false: `-T`; default: ssh decides. */
  tty?: boolean | "force";
  /** Default true: never prompt (passphrases, passwords); false for an interactive shell with an encrypted key. */
  batchMode?: boolean;
}

/**
 * argv for /usr/bin/ssh. ssh takes the first value it sees for an option, so the host-key options
 * come first (config cannot weaken them), then the operator's options, then defaults the operator
 * may override (batch mode, timeouts).
 */
export function sshArgs(o: SshArgsOptions): string[] {
  validateAddress(o.address);
  const user = o.user ?? "root";
  if (!/^[A-Za-z_][A-Za-z0-9_.-]*$/.test(user)) throw new Error(`not a user name: ${JSON.stringify(user)}`);
  const port = o.port ?? 22;
  if (!Number.isInteger(port) || port < 1 || port > 65_535) throw new Error(`not a port: ${port}`);
  const opt = (v: string) => ["-o", v];
  // ssh splits this option's value on blanks (it takes a list of files) unless it is quoted, and
  // a data directory may well contain a space (macOS: "Application Support").
  if (/["\r\n]/.test(o.knownHostsFile)) throw new Error(`unusable known_hosts path: ${JSON.stringify(o.knownHostsFile)}`);
  const knownHosts = /\s/.test(o.knownHostsFile) ? `"${o.knownHostsFile}"` : o.knownHostsFile;
  const args = [
    ...(o.configFile ? ["-F", o.configFile] : []),
    ...opt("StrictHostKeyChecking=yes"),
    ...opt(`UserKnownHostsFile=${knownHosts}`),
    ...opt("GlobalKnownHostsFile=/dev/null"),
    // automna owns the file: ssh must not add keys the server offers after login.
    ...opt("UpdateHostKeys=no"),
  ];
  for (const extra of o.extraOptions ?? []) {
    if (!/^[A-Za-z][A-Za-z0-9]*[ =]/.test(extra)) throw new Error(`ssh option must look like Key=Value: ${JSON.stringify(extra)}`);
    args.push(...opt(extra));
  }
  args.push(...opt(`BatchMode=${o.batchMode === false ? "no" : "yes"}`), ...opt(`ConnectTimeout=${o.connectTimeoutSec ?? 10}`));
  if (o.identityFile) args.push("-i", o.identityFile, ...opt("IdentitiesOnly=yes"));
  if (port !== 22) args.push("-p", String(port));
  if (o.tty === "force") args.push("-tt");
  else if (o.tty === true) args.push("-t");
  else if (o.tty === false) args.push("-T");
  args.push(`${user}@${o.address}`);
  if (o.command !== undefined) args.push("--", typeof o.command === "string" ? o.command : shellJoin(o.command));
  return args;
}

/**
 * Reads ssh's stderr after exit 255: "changed" when the machine presented a key other than the
 * pinned one, "unpinned" when nothing is pinned for it, undefined for any other failure. The
 * caller turns it into a message that says what to check.
 */
export function hostKeyFailure(stderr: string): "changed" | "unpinned" | undefined {
  if (/REMOTE HOST IDENTIFICATION HAS CHANGED/.test(stderr)) return "changed";
  if (/No [\w-]+ host key is known for|Host key verification failed/.test(stderr)) return "unpinned";
  return undefined;
}
