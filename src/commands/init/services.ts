import type { Context } from "../../context.js";
import type { Config, ConfigValue } from "../../lib/config.js";
import { UsageError } from "../../lib/errors.js";

/** init's flags for the services every migration and backup needs. */
export interface ServiceFlags {
  storageEndpoint?: string;
  storageBucket?: string;
  dnsZone?: string;
  dnsTemplate?: string;
  /** false for --no-storage / --no-dns: the user said to skip them. */
  storage?: boolean;
  dns?: boolean;
}

export interface ServiceAnswers {
  settings: Record<string, ConfigValue>;
  /** Secrets typed at the prompt (stored 0600 like the provider token). */
  secrets: Record<string, string>;
  /** What is still missing for migrations and backups, in words, for the closing hint. */
  missing: string[];
}

interface Service {
  name: string;
  question: string;
  /** Flag-given values, by config key. */
  given: Record<string, string | undefined>;
  fields: { key: string; message: string; flag: string; url?: boolean }[];
  secrets: { key: string; message: string; env: string }[];
}

/**
 * Object storage (migrations and backups copy /data through it) and DNS (the switch a migration
 * makes): from flags, or asked at a terminal unless the user says to skip them; off a terminal
 * without flags they are left for later and said so.
 */
export async function askServices(ctx: Context, config: Config, flags: ServiceFlags): Promise<ServiceAnswers> {
  const answers: ServiceAnswers = { settings: {}, secrets: {}, missing: [] };
  const services: (Service & { skip: boolean })[] = [
    {
      name: "object storage", skip: flags.storage === false,
      question: "Set up object storage now? Migrations and backups copy /data through an S3-compatible bucket.",
      given: { "storage.endpoint": flags.storageEndpoint, "storage.bucket": flags.storageBucket },
      fields: [
        { key: "storage.endpoint", message: "S3 endpoint URL:", flag: "--storage-endpoint <url>", url: true },
        { key: "storage.bucket", message: "Bucket:", flag: "--storage-bucket <name>" },
      ],
      secrets: [
        { key: "storage.accessKeyId", message: "Access key id (empty to skip):", env: "AUTOMNA_STORAGE_ACCESS_KEY_ID" },
        { key: "storage.secretAccessKey", message: "Secret access key (empty to skip):", env: "AUTOMNA_STORAGE_SECRET_ACCESS_KEY" },
      ],
    },
    {
      name: "DNS", skip: flags.dns === false,
      question: "Set up DNS (Cloudflare) now? A migration switches each user's name to the new machine.",
      given: { "cloudflare.zoneId": flags.dnsZone, "dns.template": flags.dnsTemplate },
      fields: [
        { key: "cloudflare.zoneId", message: "Cloudflare zone id:", flag: "--dns-zone <id>" },
        { key: "dns.template", message: "Name per user, e.g. {user}.agents.example.com:", flag: "--dns-template <template>" },
      ],
      secrets: [{ key: "cloudflare.token", message: "Cloudflare API token with DNS edit rights (empty to skip):", env: "CLOUDFLARE_API_TOKEN" }],
    },
  ];
  for (const s of services) {
    if (s.skip) continue;
    const fromFlags = Object.values(s.given).some((v) => v !== undefined);
    if (fromFlags) {
      const absent = s.fields.filter((f) => s.given[f.key] === undefined);
      if (absent.length) throw new UsageError(`${s.name}: also pass ${absent.map((f) => f.flag.split(" ")[0]).join(" and ")}`, { hint: `or --no-${s.name === "DNS" ? "dns" : "storage"} to skip it` });
      for (const f of s.fields) answers.settings[f.key] = s.given[f.key]!;
    } else if (ctx.io.canPrompt && await ctx.prompt.confirm({ message: s.question, flag: "--no-input", default: true })) {
      for (const f of s.fields) {
        answers.settings[f.key] = await ctx.prompt.input({
          message: f.message, flag: f.flag, default: config.getString(f.key) ?? "",
          validate: (v) => (v.trim() === "" ? "required (or answer no above to skip)" : f.url && !/^https?:\/\/\S+/.test(v) ? "an http:// or https:// URL" : true),
        });
      }
    } else {
      if (s.fields.some((f) => config.getString(f.key) === undefined)) answers.missing.push(`${s.name} (automna init --help shows its flags)`);
      continue;
    }
    for (const secret of s.secrets) {
      if (config.secret(secret.key)) continue;
      const value = ctx.io.canPrompt ? (await ctx.prompt.password({ message: secret.message, flag: secret.env })).trim() : "";
      if (value) answers.secrets[secret.key] = value;
      else answers.missing.push(`${secret.env} (${s.name})`);
    }
  }
  return answers;
}
