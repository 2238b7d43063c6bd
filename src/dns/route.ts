import { isIPv4, isIPv6 } from "node:net";
import { ConfigError, UsageError } from "../lib/errors.js";
import { validateUser } from "../lib/validate.js";
import type { DnsProvider, DnsRecord, DnsRecordType } from "./types.js";

/**
 * From a user and where their agent runs to the DNS record that routes to it: the name comes from
 * the `dns.template` setting (`{user}.agents.example.com`), the type from the target (an IPv4
 * address -> A, IPv6 -> AAAA, a hostname such as a Fly app's -> CNAME).
 */

/** A VM's public address, or a hostname to alias (the Fly app's `<app>.fly.dev`). */
export type RouteTarget = { address: string } | { hostname: string };

export const USER_TAG = "automna-user";

export function userTag(user: string): string {
  return `${USER_TAG}:${user}`;
}

/** The record name for a user; the template must contain `{user}` and give a valid DNS name. */
export function dnsNameForUser(template: string, user: string): string {
  validateUser(user);
  if (!template.includes("{user}")) {
    throw new ConfigError(`dns.template "${template}" has no {user} placeholder`, { hint: "e.g. automna config set dns.template '{user}.agents.example.com'" });
  }
  const name = template.split("{user}").join(user).toLowerCase().replace(/\.$/, "");
  if (!/^([a-z0-9_]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z0-9-]{2,63}$/.test(name) || name.length > 253) {
    throw new ConfigError(`dns.template "${template}" gives "${name}" for user ${user}, which is not a valid DNS name`);
  }
  return name;
}

export function recordForTarget(target: RouteTarget): { type: DnsRecordType; content: string } {
  if ("address" in target) {
    if (isIPv4(target.address)) return { type: "A", content: target.address };
    if (isIPv6(target.address)) return { type: "AAAA", content: target.address.toLowerCase() };
    throw new UsageError(`"${target.address}" is not an IP address`);
  }
  const host = target.hostname.toLowerCase().replace(/\.$/, "");
  if (isIPv4(host) || isIPv6(host)) return recordForTarget({ address: host });
  return { type: "CNAME", content: host };
}

export interface RouteUserOptions {
  user: string;
  template: string;
  target: RouteTarget;
  ttl?: number;
}

/** Points the user's name at the target (switching record type if needed) and returns the record read back. */
export async function routeUser(dns: DnsProvider, options: RouteUserOptions): Promise<DnsRecord> {
  const name = dnsNameForUser(options.template, options.user);
  const { type, content } = recordForTarget(options.target);
  return dns.upsertRecord({ name, type, content, ...(options.ttl === undefined ? {} : { ttl: options.ttl }), tags: [userTag(options.user)] });
}
