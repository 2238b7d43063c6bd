import type { Instance } from "../state/types.js";
import { dnsNameForUser, USER_TAG } from "./route.js";
import type { DnsProvider, DnsRecord } from "./types.js";

/** DNS as a command has it configured: the provider and the `dns.template` names come from. */
export interface DnsSetup {
  provider: DnsProvider;
  template: string;
}

const LABEL = new RegExp(`(?:^|\\s)${USER_TAG}:([a-z0-9-]+)(?:\\s|$)`);

/** The user automna made a record for (its `automna-user:<user>` label, in a tag or the comment). */
export function userOfRecord(record: Pick<DnsRecord, "tags" | "comment">): string | undefined {
  for (const text of [...record.tags, record.comment ?? ""]) {
    const m = LABEL.exec(text);
    if (m) return m[1];
  }
  return undefined;
}

/** Whether the record routes to this instance: its address (A/AAAA), or a hostname of one of its resources (a Fly app's CNAME). */
export function routesTo(record: Pick<DnsRecord, "content">, instance: Pick<Instance, "addresses" | "resources">): boolean {
  const content = record.content.toLowerCase().replace(/\.$/, "");
  if (Object.values(instance.addresses).some((a) => a.toLowerCase() === content)) return true;
  return Object.values(instance.resources).some((id) => content.startsWith(`${id.toLowerCase()}.`));
}

function describe(record: DnsRecord): string {
  return `dns ${record.type} ${record.name} -> ${record.content}`;
}

/**
 * Removes the records automna made for `user` at the user's name that no remaining instance of
 * the user is behind (after destroy: all of them; after gc of a retired source: only one still
 * pointing at the source). Records without the user's label are never touched. Returns what went.
 */
export async function removeUserRecords(dns: DnsSetup, user: string, remaining: readonly Instance[]): Promise<string[]> {
  const records = await dns.provider.getRecords(dnsNameForUser(dns.template, user));
  const stale = records.filter((r) => userOfRecord(r) === user && !remaining.some((i) => routesTo(r, i)));
  for (const record of stale) await dns.provider.deleteRecord(record.id);
  return stale.map(describe);
}

/** Records automna made that no instance in state is behind: whoever gets that address next would serve the user's name. */
export async function danglingRecords(dns: DnsSetup, instances: readonly Instance[]): Promise<{ user: string; record: DnsRecord }[]> {
  const out: { user: string; record: DnsRecord }[] = [];
  for (const record of await dns.provider.listManaged()) {
    const user = userOfRecord(record);
    if (!user) continue;
    if (!instances.some((i) => i.user === user && routesTo(record, i))) out.push({ user, record });
  }
  return out;
}
