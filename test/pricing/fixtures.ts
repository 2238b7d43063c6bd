import type { NewUsageInterval, UsageInterval } from "../../src/state/types.js";

/** "Now" for every cost fixture: 684 hours into November 2026. */
export const NOW = "2026-11-29T12:00:00.000Z";
export const EUR_USD = 1.08;

const base = { instanceId: null, quantity: 1, monthlyPrice: null, end: null } as const;

/**
 * A small fleet whose November 2026 bill is worked out by hand in the tests:
 * - alice: Hetzner cx22 since October, open; EUR with monthly caps (server and IPv4);
 * - bob: DigitalOcean, price changed on Nov 16 (two intervals, two prices);
 * - carol: migrated from Fly (server + 10 GB volume) to Hetzner on Nov 11;
 * - dave: DigitalOcean, destroyed on Nov 5.
 */
export const FLEET: NewUsageInterval[] = [
  { ...base, user: "alice", provider: "hetzner", size: "cx22", region: "fsn1", kind: "server", hourlyPrice: 0.006, monthlyPrice: 3.79, currency: "EUR", start: "2026-10-01T00:00:00.000Z" },
  { ...base, user: "alice", provider: "hetzner", size: "cx22", region: "fsn1", kind: "ipv4", hourlyPrice: 0.0008, monthlyPrice: 0.5, currency: "EUR", start: "2026-10-01T00:00:00.000Z" },
  { ...base, user: "bob", provider: "digitalocean", size: "s-1vcpu-2gb", region: "fra1", kind: "server", hourlyPrice: 0.01786, monthlyPrice: 12, currency: "USD", start: "2026-11-01T00:00:00.000Z", end: "2026-11-16T00:00:00.000Z" },
  { ...base, user: "bob", provider: "digitalocean", size: "s-1vcpu-2gb", region: "fra1", kind: "server", hourlyPrice: 0.02, monthlyPrice: 13.44, currency: "USD", start: "2026-11-16T00:00:00.000Z" },
  { ...base, user: "carol", provider: "fly", size: "shared-cpu-1x-2gb", region: "ams", kind: "server", hourlyPrice: 0.014861, currency: "USD", start: "2026-10-20T00:00:00.000Z", end: "2026-11-11T00:00:00.000Z" },
  { ...base, user: "carol", provider: "fly", size: "shared-cpu-1x-2gb", region: "ams", kind: "volume", quantity: 10, hourlyPrice: 0.15 / 720, currency: "USD", start: "2026-10-20T00:00:00.000Z", end: "2026-11-11T00:00:00.000Z" },
  { ...base, user: "carol", provider: "hetzner", size: "cx22", region: "nbg1", kind: "server", hourlyPrice: 0.006, monthlyPrice: 3.79, currency: "EUR", start: "2026-11-11T00:00:00.000Z" },
  { ...base, user: "carol", provider: "hetzner", size: "cx22", region: "nbg1", kind: "ipv4", hourlyPrice: 0.0008, monthlyPrice: 0.5, currency: "EUR", start: "2026-11-11T00:00:00.000Z" },
  { ...base, user: "dave", provider: "digitalocean", size: "s-1vcpu-1gb", region: "fra1", kind: "server", hourlyPrice: 0.00893, monthlyPrice: 6, currency: "USD", start: "2026-10-01T00:00:00.000Z", end: "2026-11-05T00:00:00.000Z" },
];

/** November 2026 to NOW, in USD at 1.08, by hand (see the arithmetic in usage-cost.test.ts). */
export const NOVEMBER = {
  alice: 3.79 * 1.08 + 0.5 * 1.08, // both capped: 684 h × 0.006 = 4.104 > 3.79; 684 × 0.0008 = 0.5472 > 0.5
  bob: 360 * 0.01786 + 324 * 0.02, // 6.4296 at the old price, 6.48 at the new one
  carol: 240 * 0.014861 + 10 * 240 * (0.15 / 720) + 444 * 0.006 * 1.08 + 444 * 0.0008 * 1.08,
  dave: 96 * 0.00893,
};
export const NOVEMBER_TOTAL = NOVEMBER.alice + NOVEMBER.bob + NOVEMBER.carol + NOVEMBER.dave; // 25.727456

/** The full month, open intervals running on to Dec 1. */
export const NOVEMBER_PROJECTED = {
  alice: NOVEMBER.alice, // already at both caps
  bob: 360 * 0.01786 + 360 * 0.02,
  carol: 240 * 0.014861 + 0.5 + 480 * 0.006 * 1.08 + 480 * 0.0008 * 1.08,
  dave: NOVEMBER.dave,
};
export const NOVEMBER_PROJECTED_TOTAL = NOVEMBER_PROJECTED.alice + NOVEMBER_PROJECTED.bob + NOVEMBER_PROJECTED.carol + NOVEMBER_PROJECTED.dave; // 26.71184

export function withIds(list: NewUsageInterval[]): UsageInterval[] {
  return list.map((iv, i) => ({ ...iv, id: `use_${i}`, end: iv.end ?? null }));
}

export function interval(partial: Partial<UsageInterval>): UsageInterval {
  return {
    id: "use_x", user: "u1", instanceId: null, provider: "hetzner", size: "cx22", region: "fsn1", kind: "server",
    quantity: 1, hourlyPrice: 0.01, monthlyPrice: null, currency: "USD", start: "2026-11-01T00:00:00.000Z", end: null,
    ...partial,
  };
}
