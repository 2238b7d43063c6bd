import { memo } from "../util.js";

/**
 * DigitalOcean's catalogue as the sandbox serves it: regions, Droplet sizes with USD list
 * prices (price_hourly = monthly / 672, DigitalOcean's monthly cap), and images by slug.
 */

export interface DoRegion {
  slug: string;
  name: string;
}

export const REGIONS: readonly DoRegion[] = [
  { slug: "nyc1", name: "New York 1" },
  { slug: "nyc3", name: "New York 3" },
  { slug: "sfo2", name: "San Francisco 2" },
  { slug: "sfo3", name: "San Francisco 3" },
  { slug: "ams3", name: "Amsterdam 3" },
  { slug: "sgp1", name: "Singapore 1" },
  { slug: "lon1", name: "London 1" },
  { slug: "fra1", name: "Frankfurt 1" },
  { slug: "tor1", name: "Toronto 1" },
  { slug: "blr1", name: "Bangalore 1" },
  { slug: "syd1", name: "Sydney 1" },
  { slug: "atl1", name: "Atlanta 1" },
];

const FEATURES = ["backups", "ipv6", "metadata", "install_agent", "storage", "image_transfer"];

export interface DoSize {
  slug: string;
  memory: number;
  vcpus: number;
  disk: number;
  transfer: number;
  priceMonthly: number;
  description: string;
  regions: string[];
}

const ALL = REGIONS.map((r) => r.slug);
/** The $4 size is not offered everywhere. */
const SMALL = ["nyc1", "nyc3", "sfo3", "ams3", "sgp1", "lon1", "fra1", "tor1", "blr1", "syd1"];

const size = (slug: string, memory: number, vcpus: number, disk: number, transfer: number, priceMonthly: number, description = "Basic", regions = ALL): DoSize =>
  ({ slug, memory, vcpus, disk, transfer, priceMonthly, description, regions });

export const SIZES: readonly DoSize[] = [
  size("s-1vcpu-512mb-10gb", 512, 1, 10, 0.5, 4, "Basic", SMALL),
  size("s-1vcpu-1gb", 1024, 1, 25, 1, 6),
  size("s-1vcpu-2gb", 2048, 1, 50, 2, 12),
  size("s-2vcpu-2gb", 2048, 2, 60, 3, 18),
  size("s-2vcpu-4gb", 4096, 2, 80, 4, 24),
  size("s-4vcpu-8gb", 8192, 4, 160, 5, 48),
  size("s-8vcpu-16gb", 16384, 8, 320, 6, 96),
  size("c-2", 4096, 2, 25, 4, 42, "CPU-Optimized"),
  size("g-2vcpu-8gb", 8192, 2, 25, 4, 63, "General Purpose"),
  size("m-2vcpu-16gb", 16384, 2, 50, 4, 84, "Memory-Optimized"),
];

export const renderSize = memo((s: DoSize): Record<string, unknown> => {
  return {
    slug: s.slug, memory: s.memory, vcpus: s.vcpus, disk: s.disk, transfer: s.transfer,
    price_monthly: s.priceMonthly, price_hourly: Math.round((s.priceMonthly / 672) * 1e8) / 1e8,
    regions: s.regions, available: true, description: s.description,
    disk_info: [{ type: "local", size: { amount: s.disk, unit: "gib" } }],
  };
});

export const renderRegion = memo((r: DoRegion): Record<string, unknown> => {
  return { name: r.name, slug: r.slug, features: FEATURES, available: true, sizes: SIZES.filter((s) => s.regions.includes(r.slug)).map((s) => s.slug) };
});

export interface DoImage {
  id: number;
  slug: string;
  name: string;
  distribution: string;
  type: "base" | "snapshot";
  minDisk: number;
  created: string;
}

export const IMAGES: readonly DoImage[] = [
  { id: 160266513, slug: "ubuntu-24-04-x64", name: "24.04 (LTS) x64", distribution: "Ubuntu", type: "base", minDisk: 7, created: "2024-07-01T12:00:00Z" },
  { id: 129211873, slug: "ubuntu-22-04-x64", name: "22.04 (LTS) x64", distribution: "Ubuntu", type: "base", minDisk: 7, created: "2023-03-29T12:00:00Z" },
  { id: 142398023, slug: "debian-12-x64", name: "12 x64", distribution: "Debian", type: "base", minDisk: 7, created: "2023-10-10T12:00:00Z" },
  { id: 155014457, slug: "fedora-40-x64", name: "40 x64", distribution: "Fedora", type: "base", minDisk: 7, created: "2024-04-24T12:00:00Z" },
  { id: 140497219, slug: "rockylinux-9-x64", name: "9 x64", distribution: "Rocky Linux", type: "base", minDisk: 7, created: "2023-07-20T12:00:00Z" },
  { id: 161000001, slug: "docker-20-04", name: "Docker on Ubuntu 22.04", distribution: "Ubuntu", type: "snapshot", minDisk: 25, created: "2024-05-01T12:00:00Z" },
];

/** Image regions use the spec's enum of slugs, which predates atl1. */
const IMAGE_REGIONS = ALL.filter((r) => r !== "atl1");

export const renderImage = memo((i: DoImage): Record<string, unknown> => {
  return {
    id: i.id, name: i.name, distribution: i.distribution, slug: i.slug, public: true, regions: IMAGE_REGIONS,
    created_at: i.created, type: i.type, min_disk_size: i.minDisk, size_gigabytes: 2.36, description: "", tags: [], status: "available", error_message: "",
  };
});

export function findSize(slug: string): DoSize | undefined {
  return SIZES.find((s) => s.slug === slug);
}

export function findImage(ref: string | number): DoImage | undefined {
  return IMAGES.find((i) => i.slug === ref || i.id === ref || String(i.id) === ref);
}

/** A region by slug, or by slug prefix (`nyc` picks a datacenter in New York). */
export function findRegion(ref: string): DoRegion | undefined {
  return REGIONS.find((r) => r.slug === ref) ?? REGIONS.find((r) => r.slug.startsWith(ref) && /^[a-z]+$/.test(ref));
}
