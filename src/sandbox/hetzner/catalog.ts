import { memo } from "../util.js";

/**
 * Hetzner Cloud's catalogue as the sandbox serves it: locations, datacenters, server types with
 * per-location list prices (EUR, ex VAT, the public prices automna's cost comparison uses:
 * CX22 €3.79/month and so on), and system/app images. Prices are decimal strings with ten
 * places, net and gross at 19 % VAT, as the real API prints them.
 */

export interface HetznerLocation {
  id: number;
  name: string;
  description: string;
  country: string;
  city: string;
  latitude: number;
  longitude: number;
  network_zone: string;
  datacenter: { id: number; name: string; description: string };
}

export const LOCATIONS: readonly HetznerLocation[] = [
  { id: 1, name: "fsn1", description: "Falkenstein DC Park 1", country: "DE", city: "Falkenstein", latitude: 50.47612, longitude: 12.370071, network_zone: "eu-central", datacenter: { id: 4, name: "fsn1-dc14", description: "Falkenstein 1 virtual DC 14" } },
  { id: 2, name: "nbg1", description: "Nuremberg DC Park 1", country: "DE", city: "Nuremberg", latitude: 49.452102, longitude: 11.076665, network_zone: "eu-central", datacenter: { id: 2, name: "nbg1-dc3", description: "Nuremberg 1 virtual DC 3" } },
  { id: 3, name: "hel1", description: "Helsinki DC Park 1", country: "FI", city: "Helsinki", latitude: 60.169855, longitude: 24.938379, network_zone: "eu-central", datacenter: { id: 3, name: "hel1-dc2", description: "Helsinki 1 virtual DC 2" } },
  { id: 4, name: "ash", description: "Ashburn, VA", country: "US", city: "Ashburn, VA", latitude: 39.045821, longitude: -77.487073, network_zone: "us-east", datacenter: { id: 5, name: "ash-dc1", description: "Ashburn virtual DC 1" } },
  { id: 5, name: "hil", description: "Hillsboro, OR", country: "US", city: "Hillsboro, OR", latitude: 45.54222, longitude: -122.951924, network_zone: "us-west", datacenter: { id: 6, name: "hil-dc1", description: "Hillsboro virtual DC 1" } },
  { id: 6, name: "sin", description: "Singapore", country: "SG", city: "Singapore", latitude: 1.283333, longitude: 103.833333, network_zone: "ap-southeast", datacenter: { id: 7, name: "sin-dc1", description: "Singapore virtual DC 1" } },
];

const EU = ["fsn1", "nbg1", "hel1"];
const ALL = LOCATIONS.map((l) => l.name);

export interface HetznerServerType {
  id: number;
  name: string;
  description: string;
  cores: number;
  memory: number;
  disk: number;
  cpu_type: "shared" | "dedicated";
  architecture: "x86" | "arm";
  category: string;
  /** EU list price per month, EUR ex VAT. */
  monthlyEur: number;
  locations: string[];
}

const t = (id: number, name: string, cores: number, memory: number, disk: number, cpu: "shared" | "dedicated", arch: "x86" | "arm", monthlyEur: number, locations: string[]): HetznerServerType => ({
  id, name, description: name.toUpperCase(), cores, memory, disk, cpu_type: cpu, architecture: arch,
  category: cpu === "dedicated" ? "Dedicated vCPU" : arch === "arm" ? "Shared vCPU Ampere" : name.startsWith("cpx") ? "Shared vCPU AMD" : "Shared vCPU Intel",
  monthlyEur, locations,
});

export const SERVER_TYPES: readonly HetznerServerType[] = [
  t(22, "cpx11", 2, 2, 40, "shared", "x86", 4.35, ALL),
  t(23, "cpx21", 3, 4, 80, "shared", "x86", 7.55, ALL),
  t(24, "cpx31", 4, 8, 160, "shared", "x86", 13.6, ALL),
  t(25, "cpx41", 8, 16, 240, "shared", "x86", 25.2, ALL),
  t(26, "cpx51", 16, 32, 360, "shared", "x86", 54.9, ALL),
  t(45, "cax11", 2, 4, 40, "shared", "arm", 3.79, EU),
  t(93, "cax21", 4, 8, 80, "shared", "arm", 6.49, EU),
  t(94, "cax31", 8, 16, 160, "shared", "arm", 12.49, EU),
  t(95, "cax41", 16, 32, 320, "shared", "arm", 24.49, EU),
  t(96, "ccx13", 2, 8, 80, "dedicated", "x86", 12.49, ALL),
  t(97, "ccx23", 4, 16, 160, "dedicated", "x86", 24.49, ALL),
  t(98, "ccx33", 8, 32, 240, "dedicated", "x86", 48.49, ALL),
  t(104, "cx22", 2, 4, 40, "shared", "x86", 3.79, EU),
  t(105, "cx32", 4, 8, 80, "shared", "x86", 6.8, EU),
  t(106, "cx42", 8, 16, 160, "shared", "x86", 14.4, EU),
  t(107, "cx52", 16, 32, 320, "shared", "x86", 28.8, EU),
];

const TB = 1024 ** 4;
const VAT = 1.19;

/** Regional price factor and included traffic: the US and Singapore cost more and include less. */
function region(location: string): { factor: number; traffic: number; perTb: number } {
  if (location === "ash" || location === "hil") return { factor: 1.19, traffic: 1 * TB, perTb: 1 };
  if (location === "sin") return { factor: 1.38, traffic: 0.5 * TB, perTb: 7.4 };
  return { factor: 1, traffic: 20 * TB, perTb: 1 };
}

/** A decimal string with ten places, as Hetzner prints prices. */
export function decimal(value: number): string {
  return (Math.round(value * 1e6) / 1e6).toFixed(10);
}

function price(net: number): { net: string; gross: string } {
  return { net: decimal(net), gross: decimal(net * VAT) };
}

export function serverTypePrices(type: HetznerServerType): unknown[] {
  return type.locations.map((location) => {
    const r = region(location);
    const monthly = Math.round(type.monthlyEur * r.factor * 100) / 100;
    return {
      location,
      price_hourly: price(Math.round((monthly / 632) * 10000) / 10000),
      price_monthly: price(monthly),
      included_traffic: r.traffic,
      price_per_tb_traffic: price(r.perTb),
    };
  });
}

export function includedTraffic(location: string): number {
  return region(location).traffic;
}

export const renderServerType = memo((type: HetznerServerType): Record<string, unknown> => {
  return {
    id: type.id,
    name: type.name,
    description: type.description,
    category: type.category,
    cores: type.cores,
    memory: type.memory,
    disk: type.disk,
    deprecated: false,
    deprecation: null,
    prices: serverTypePrices(type),
    storage_type: "local",
    cpu_type: type.cpu_type,
    architecture: type.architecture,
    locations: type.locations.map((name) => ({ id: LOCATIONS.find((l) => l.name === name)!.id, name, deprecation: null })),
  };
});

export const renderLocation = memo((l: HetznerLocation): Record<string, unknown> => {
  return { id: l.id, name: l.name, description: l.description, country: l.country, city: l.city, latitude: l.latitude, longitude: l.longitude, network_zone: l.network_zone };
});

export const renderDatacenter = memo((l: HetznerLocation): Record<string, unknown> => {
  const here = SERVER_TYPES.filter((st) => st.locations.includes(l.name)).map((st) => st.id);
  return {
    id: l.datacenter.id, name: l.datacenter.name, description: l.datacenter.description, location: renderLocation(l),
    server_types: { supported: here, available: here, available_for_migration: here },
  };
});

export interface HetznerImage {
  id: number;
  name: string;
  description: string;
  type: "system" | "app";
  os_flavor: string;
  os_version: string;
  architecture: "x86" | "arm";
  created: string;
}

const img = (id: number, name: string, description: string, type: "system" | "app", flavor: string, version: string, architecture: "x86" | "arm", created: string): HetznerImage =>
  ({ id, name, description, type, os_flavor: flavor, os_version: version, architecture, created });

export const IMAGES: readonly HetznerImage[] = [
  img(67794396, "ubuntu-22.04", "Ubuntu 22.04", "system", "ubuntu", "22.04", "x86", "2022-04-21T13:32:38+00:00"),
  img(103908070, "ubuntu-22.04", "Ubuntu 22.04", "system", "ubuntu", "22.04", "arm", "2023-03-20T09:00:00+00:00"),
  img(161547269, "ubuntu-24.04", "Ubuntu 24.04", "system", "ubuntu", "24.04", "x86", "2024-04-25T11:12:21+00:00"),
  img(161547270, "ubuntu-24.04", "Ubuntu 24.04", "system", "ubuntu", "24.04", "arm", "2024-04-25T11:12:21+00:00"),
  img(114690387, "debian-12", "Debian 12", "system", "debian", "12", "x86", "2023-06-13T06:00:02+00:00"),
  img(114690389, "debian-12", "Debian 12", "system", "debian", "12", "arm", "2023-06-13T06:00:02+00:00"),
  img(213487381, "fedora-41", "Fedora 41", "system", "fedora", "41", "x86", "2024-10-30T08:00:00+00:00"),
  img(76766499, "rocky-9", "Rocky Linux 9", "system", "rocky", "9", "x86", "2022-07-15T08:00:00+00:00"),
  img(76766511, "alma-9", "AlmaLinux 9", "system", "alma", "9", "x86", "2022-07-15T08:00:00+00:00"),
  img(174013346, "docker-ce", "Docker CE", "app", "ubuntu", "24.04", "x86", "2024-07-02T10:00:00+00:00"),
  img(174013347, "docker-ce", "Docker CE", "app", "ubuntu", "24.04", "arm", "2024-07-02T10:00:00+00:00"),
];

export const renderImage = memo((i: HetznerImage): Record<string, unknown> => {
  return {
    id: i.id, type: i.type, status: "available", name: i.name, description: i.description, image_size: null, disk_size: 5,
    created: i.created, created_from: null, bound_to: null, os_flavor: i.os_flavor, os_version: i.os_version,
    rapid_deploy: true, protection: { delete: false }, deprecated: null, deleted: null, labels: {}, architecture: i.architecture,
  };
});

/** The body of `GET /pricing`. */
export function renderPricing(): Record<string, unknown> {
  const perLocation = (monthly: number, hourly: boolean): unknown[] => LOCATIONS.map((l) => ({
    location: l.name,
    ...(hourly ? { price_hourly: price(Math.round((monthly / 730) * 10000) / 10000) } : {}),
    price_monthly: price(monthly),
  }));
  return {
    pricing: {
      currency: "EUR",
      vat_rate: "19.00",
      image: { price_per_gb_month: price(0.0119) },
      floating_ip: { price_monthly: price(3) },
      floating_ips: [
        { type: "ipv4", prices: perLocation(3, false) },
        { type: "ipv6", prices: perLocation(3, false) },
      ],
      primary_ips: [
        { type: "ipv4", prices: perLocation(0.5, true) },
        { type: "ipv6", prices: perLocation(0, true) },
      ],
      server_backup: { percentage: "20.00" },
      server_types: SERVER_TYPES.map((st) => ({ id: st.id, name: st.name, prices: serverTypePrices(st) })),
      load_balancer_types: [
        { id: 1, name: "lb11", prices: LOCATIONS.map((l) => ({ location: l.name, price_hourly: price(0.0088), price_monthly: price(5.39), included_traffic: 20 * TB, price_per_tb_traffic: price(1) })) },
      ],
      volume: { price_per_gb_month: price(0.044) },
    },
  };
}

export function findServerType(ref: string): HetznerServerType | undefined {
  return SERVER_TYPES.find((st) => st.name === ref || String(st.id) === ref);
}

export function findLocation(ref: string): HetznerLocation | undefined {
  return LOCATIONS.find((l) => l.name === ref || String(l.id) === ref);
}

/** An image by id or by name for the server type's architecture. */
export function findImage(ref: string, architecture: "x86" | "arm"): HetznerImage | undefined {
  return IMAGES.find((i) => String(i.id) === ref) ?? IMAGES.find((i) => i.name === ref && i.architecture === architecture);
}
