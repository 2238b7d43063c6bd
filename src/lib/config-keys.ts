/**
 * Every configuration key automna knows: its type, whether it is a secret, the environment
 * variable that overrides it and what it is for. `config set` accepts only these keys, `config
 * list` shows them, and `init` writes a subset. Secrets are shown as `***` and come from the
 * environment or the 0600 file, never from a flag.
 */
import { MANIFESTS } from "../providers/manifests.js";

export type ConfigValueType = "string" | "number" | "boolean" | "list";

export interface ConfigKey {
  key: string;
  type: ConfigValueType;
  description: string;
  /** Environment variable that overrides the file. */
  env?: string;
  secret?: boolean;
  default?: string | number | boolean | string[];
  /** Allowed values, when the set is closed. */
  choices?: readonly string[];
  /** What a string must look like, checked when it is set. */
  format?: "duration" | "url";
  /** Bounds of a number (inclusive); `integer` for counts and ports. */
  range?: { min: number; max: number; integer?: boolean };
}

/** Each provider's token, URL and own settings, from its manifest. */
function providerKeys(): ConfigKey[] {
  return MANIFESTS.flatMap((m) => [
    { key: m.token.key, type: "string" as const, description: m.token.description, env: m.token.env, secret: true },
    { key: m.url.key, type: "string" as const, format: "url" as const, description: m.url.description, env: m.url.env, default: m.url.default },
    ...m.settings,
  ]);
}

const PORT = { min: 1, max: 65535, integer: true };

export const CONFIG_KEYS: readonly ConfigKey[] = [
  { key: "provider", type: "string", description: "default provider for provision", env: "AUTOMNA_PROVIDER", choices: MANIFESTS.flatMap((m) => [m.id, ...m.aliases]) },
  { key: "region", type: "string", description: "default region (provider-specific name)", env: "AUTOMNA_REGION" },
  { key: "size", type: "string", description: "default size (provider-specific name)", env: "AUTOMNA_SIZE" },
  { key: "image", type: "string", description: "agent container image", env: "AUTOMNA_IMAGE", default: "ghcr.io/automna/agent:latest" },
  { key: "operator", type: "string", description: "your name in locks and the audit log (default: $USER@host)", env: "AUTOMNA_OPERATOR" },

  { key: "state.path", type: "string", description: "embedded state database file", env: "AUTOMNA_STATE" },
  { key: "state.url", type: "string", format: "url", description: "shared state server URL (automna state serve)", env: "AUTOMNA_STATE_URL" },
  { key: "state.token", type: "string", description: "bearer token for the state server", env: "AUTOMNA_STATE_TOKEN", secret: true },
  { key: "state.caFile", type: "string", description: "PEM file of the CA that signed an https state server's certificate", env: "AUTOMNA_STATE_CA_FILE" },
  { key: "state.retryFor", type: "string", format: "duration", description: "how long calls to a state server that answered before wait out its outage, retrying (duration; 0s: fail at once)", env: "AUTOMNA_STATE_RETRY_FOR", default: "60s" },
  { key: "state.busyTimeoutMs", type: "number", range: { min: 0, max: 600_000, integer: true }, description: "how long to wait for a state database locked by another process", env: "AUTOMNA_STATE_BUSY_TIMEOUT_MS", default: 5000 },

  ...providerKeys(),
  { key: "cloudflare.token", type: "string", description: "Cloudflare API token (DNS)", env: "CLOUDFLARE_API_TOKEN", secret: true },
  { key: "cloudflare.url", type: "string", format: "url", description: "Cloudflare API base URL", env: "AUTOMNA_CLOUDFLARE_URL", default: "https://api.cloudflare.com/client/v4" },
  { key: "cloudflare.zoneId", type: "string", description: "Cloudflare zone id for agent DNS records", env: "AUTOMNA_CLOUDFLARE_ZONE_ID" },
  { key: "dns.template", type: "string", description: "DNS name per user, e.g. {user}.agents.example.com", env: "AUTOMNA_DNS_TEMPLATE" },

  { key: "ssh.publicKey", type: "string", description: "public key file installed on new VMs", env: "AUTOMNA_SSH_PUBLIC_KEY" },
  { key: "ssh.identityFile", type: "string", description: "private key used by ssh, exec and logs", env: "AUTOMNA_SSH_IDENTITY_FILE" },
  { key: "ssh.user", type: "string", description: "remote user for ssh", env: "AUTOMNA_SSH_USER", default: "root" },
  { key: "ssh.port", type: "number", range: PORT, description: "remote port for ssh", env: "AUTOMNA_SSH_PORT", default: 22 },
  { key: "ssh.options", type: "list", description: "extra ssh -o options, comma-separated", env: "AUTOMNA_SSH_OPTIONS" },
  { key: "sandbox.dir", type: "string", description: "world directory of the sandbox that wrote this profile (sandbox up --dir); sandbox status and down find it here" },
  { key: "ssh.bootTimeout", type: "string", format: "duration", description: "how long provision waits for a new VM to accept SSH to deliver --secret values (duration)", env: "AUTOMNA_SSH_BOOT_TIMEOUT", default: "5m" },

  { key: "storage.endpoint", type: "string", format: "url", description: "S3-compatible endpoint for migration data and backups", env: "AUTOMNA_STORAGE_ENDPOINT" },
  { key: "storage.bucket", type: "string", description: "bucket for migration data and backups", env: "AUTOMNA_STORAGE_BUCKET" },
  { key: "storage.region", type: "string", description: "bucket region", env: "AUTOMNA_STORAGE_REGION", default: "auto" },
  { key: "storage.accessKeyId", type: "string", description: "access key id", env: "AUTOMNA_STORAGE_ACCESS_KEY_ID", secret: true },
  { key: "storage.secretAccessKey", type: "string", description: "secret access key", env: "AUTOMNA_STORAGE_SECRET_ACCESS_KEY", secret: true },
  { key: "storage.multipartThreshold", type: "string", description: "archives larger than this go to storage in parts (size, at most 5GiB)", env: "AUTOMNA_STORAGE_MULTIPART_THRESHOLD", default: "100MiB" },
  { key: "storage.partSize", type: "string", description: "size of each part of an archive sent in parts (whole MiB, 5MiB..5GiB on S3 and R2)", env: "AUTOMNA_STORAGE_PART_SIZE", default: "64MiB" },

  { key: "health.port", type: "number", range: PORT, description: "agent health-check port", env: "AUTOMNA_HEALTH_PORT", default: 8080 },
  { key: "health.path", type: "string", description: "agent health-check path", env: "AUTOMNA_HEALTH_PATH", default: "/healthz" },
  { key: "health.checks", type: "number", range: { min: 1, max: 100, integer: true }, description: "consecutive passing health checks a migration target needs", env: "AUTOMNA_HEALTH_CHECKS", default: 3 },
  { key: "health.interval", type: "string", format: "duration", description: "pause between those health checks (duration)", env: "AUTOMNA_HEALTH_INTERVAL", default: "1s" },
  { key: "health.timeout", type: "string", format: "duration", description: "how long a migration target may take to become healthy (duration)", env: "AUTOMNA_HEALTH_TIMEOUT", default: "120s" },
  { key: "migrate.leaseTtl", type: "string", format: "duration", description: "TTL of the per-user lease a migration holds, renewed every third of it (duration; on a state server the default is at least 1.5 x state.retryFor)", env: "AUTOMNA_MIGRATE_LEASE_TTL", default: "60s" },
  { key: "pricing.eurUsd", type: "number", range: { min: 0.01, max: 100 }, description: "EUR to USD rate for cost reports", env: "AUTOMNA_EUR_USD", default: 1.08 },
];

const BY_KEY = new Map(CONFIG_KEYS.map((k) => [k.key, k]));

export function findConfigKey(key: string): ConfigKey | undefined {
  return BY_KEY.get(key);
}

/**
 * The same settings as the environment variables that carry them (for a child process or a
 * test's env). Throws on a key without one: that is a programming error, not the user's.
 */
export function settingsAsEnv(settings: Record<string, string>): Record<string, string> {
  return Object.fromEntries(Object.entries(settings).map(([key, value]) => {
    const env = BY_KEY.get(key)?.env;
    if (!env) throw new Error(`config key ${key} has no environment variable`);
    return [env, value];
  }));
}

/** Levenshtein distance, for "did you mean" suggestions. */
export function editDistance(a: string, b: string): number {
  const prev = Array.from({ length: b.length + 1 }, (_, i) => i);
  for (let i = 1; i <= a.length; i++) {
    let diag = prev[0]!;
    prev[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const tmp = prev[j]!;
      prev[j] = Math.min(prev[j]! + 1, prev[j - 1]! + 1, diag + (a[i - 1] === b[j - 1] ? 0 : 1));
      diag = tmp;
    }
  }
  return prev[b.length]!;
}

/** The closest candidates to a mistyped value, best first. */
export function closest(value: string, candidates: readonly string[], max = 3): string[] {
  return candidates
    .map((c) => ({ c, d: editDistance(value.toLowerCase(), c.toLowerCase()) }))
    .filter(({ c, d }) => d <= Math.max(2, Math.floor(c.length / 3)) || c.startsWith(value))
    .sort((a, b) => a.d - b.d)
    .slice(0, max)
    .map(({ c }) => c);
}
