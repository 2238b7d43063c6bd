import { existsSync } from "node:fs";
import type { Context } from "../context.js";
import { ConfigError, NotFoundError, UsageError } from "../lib/errors.js";
import { defaultKnownHostsPath, pinHostKeys, shellQuote } from "../lib/known-hosts.js";
import { validateUsers } from "../lib/validate.js";
import type { Provider } from "../providers/types.js";
import type { Instance } from "../state/types.js";
import { RemoteAccessError } from "./ssh.js";

/** How automna reaches VMs over SSH, from the config (`ssh.*`). */
export interface SshSettings {
  user: string;
  port: number;
  identityFile: string | undefined;
  /** `ssh.options`: `Key=Value` each. */
  options: string[];
  /** automna's own known_hosts. */
  knownHosts: string;
}

/** One user's live instance, ready to reach. */
export interface Target {
  user: string;
  instance: Instance;
  provider: Provider;
  /** The address to SSH to; undefined for providers reached through their API. */
  address: string | undefined;
}

const NOT_READY = new Set(["provisioning", "failed", "deleting", "retired"]);

export async function sshSettings(ctx: Context): Promise<SshSettings> {
  const config = await ctx.config();
  const identityFile = config.getString("ssh.identityFile");
  if (identityFile && !existsSync(identityFile)) {
    throw new ConfigError(`ssh.identityFile ${identityFile} does not exist`, { hint: "set ssh.identityFile to the private half of ssh.publicKey" });
  }
  const port = config.getNumber("ssh.port") ?? 22;
  if (!Number.isInteger(port) || port < 1 || port > 65_535) throw new ConfigError(`ssh.port must be a port number, got ${port}`);
  return {
    user: config.getString("ssh.user") ?? "root",
    port,
    identityFile,
    options: config.getList("ssh.options"),
    knownHosts: defaultKnownHostsPath(ctx.env),
  };
}

/**
 * The address to SSH to: IPv4, else IPv6 (Hetzner reports the server's /64 network; the server
 * itself answers on its first address, `::1` of it).
 */
export function sshAddress(addresses: Record<string, string>): string | undefined {
  if (addresses.ipv4) return addresses.ipv4;
  const v6 = addresses.ipv6;
  if (!v6) return undefined;
  if (!v6.includes("/")) return v6;
  const net = v6.split("/")[0]!;
  return net.endsWith("::") ? `${net}1` : undefined;
}

/**
 * The address to SSH to for a VM: the stored one, else the provider's (a --no-wait provision may
 * have stored no address yet: the provider knows it by now). Undefined: it has none yet.
 */
export async function instanceSshAddress(provider: Provider, instance: Instance): Promise<string | undefined> {
  const stored = sshAddress(instance.addresses);
  if (stored) return stored;
  const live = await provider.get(instance.user);
  return live ? sshAddress(live.addresses) : undefined;
}

/** The public host keys automna learned for an instance at provision (`meta.hostKeys`). */
export function hostKeysOf(instance: Pick<Instance, "meta">): string[] {
  const keys = instance.meta.hostKeys;
  return Array.isArray(keys) ? keys.filter((k): k is string => typeof k === "string") : [];
}

/**
 * The refusal for a VM that `automna import` took over without accepting its host key: automna
 * never learned that machine's key, and no command but `import --accept-host-key` trusts one on
 * first use. Undefined when it is not such a machine.
 */
export function unacceptedHostKey(instance: Pick<Instance, "user" | "provider" | "meta">): RemoteAccessError | undefined {
  const imported = instance.meta.imported as { file?: unknown; match?: unknown } | undefined;
  if (!imported || hostKeysOf(instance).length > 0) return undefined;
  // The import as it was run, when state says how: a re-run changes nothing but the key.
  const how = typeof imported.match === "string" ? `--match ${shellQuote(imported.match)} --provider ${instance.provider}`
    : `--from-file ${typeof imported.file === "string" && imported.file !== "-" ? shellQuote(imported.file) : "FILE"}`;
  return new RemoteAccessError(`${instance.user}'s ${instance.provider} machine was imported without accepting its SSH host key, so automna will not connect to it`, {
    code: "host_key_unknown",
    hint: `re-run the import with --accept-host-key (automna import ${how} --accept-host-key): it records the key the machine presents and prints its fingerprint; compare that with ssh-keygen -lf /etc/ssh/ssh_host_ed25519_key.pub on the machine`,
  });
}

/**
 * Makes automna's known_hosts agree with state before a connection: state holds the keys pinned
 * at provision, so another operator's machine (shared state) or a lost file is repaired here,
 * and a key that came from anywhere else is never trusted. No-op when nothing was learned;
 * an imported machine whose key was never accepted is refused.
 */
export async function ensurePinned(settings: SshSettings, address: string, instance: Pick<Instance, "user" | "provider" | "meta">): Promise<void> {
  const refused = unacceptedHostKey(instance);
  if (refused) throw refused;
  const keys = hostKeysOf(instance);
  if (keys.length) await pinHostKeys(settings.knownHosts, { address, port: settings.port, keys });
}

/**
 * The live instances of `users`, each with its provider and address. Every problem is bad input
 * (exit 2) and all of them are named at once: users without an instance, instances still being
 * made or removed, VMs without an address.
 */
export async function resolveTargets(ctx: Context, users: string[]): Promise<Target[]> {
  validateUsers(users);
  const [state, registry] = await Promise.all([ctx.state(), ctx.providers()]);
  const rows = new Map((await state.listInstances({ users, role: "live" })).map((i) => [i.user, i]));
  const missing = users.filter((u) => !rows.has(u));
  if (missing.length) {
    const hint = missing.length === 1 ? `automna provision ${missing[0]}` : "automna list shows who has one; automna provision makes one";
    throw new NotFoundError(`${missing.length === 1 ? `${missing[0]} has` : `${missing.join(", ")} have`} no instance`, { hint });
  }
  const notReady = users.map((u) => rows.get(u)!).filter((i) => NOT_READY.has(i.status));
  if (notReady.length) {
    const what = notReady.map((i) => `${i.user} (${i.status})`).join(", ");
    throw new UsageError(`not ready to reach: ${what}`, { hint: `an instance can be reached once provisioned and running; re-run automna provision ${notReady[0]!.user} to finish it` });
  }
  const targets: Target[] = [];
  const noAddress: string[] = [];
  for (const user of users) {
    const instance = rows.get(user)!;
    const provider = await registry.forInstance(instance);
    const address = provider.reach === "ssh" ? await instanceSshAddress(provider, instance) : undefined;
    if (provider.reach === "ssh" && !address) noAddress.push(user);
    targets.push({ user, instance, provider, address });
  }
  if (noAddress.length) throw new UsageError(`no address yet for ${noAddress.join(", ")}`, { hint: "wait until the machine is running (automna status <user>)" });
  return targets;
}
