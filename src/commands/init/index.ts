import { existsSync } from "node:fs";
import { join } from "node:path";
import type { Command } from "commander";
import type { Context } from "../../context.js";
import { action, examples, type CommandModule } from "../../lib/command.js";
import type { ConfigValue } from "../../lib/config.js";
import { closest } from "../../lib/config-keys.js";
import { UsageError } from "../../lib/errors.js";
import { renderDetails } from "../../lib/output.js";
import { defaultStatePath } from "../../lib/paths.js";
import { PROVIDERS, providerInfo, providerNames, type ProviderInfo } from "../../providers/catalog.js";
import { askServices, type ServiceFlags } from "./services.js";

export interface InitOptions extends ServiceFlags {
  provider?: string;
  region?: string;
  size?: string;
  image?: string;
  sshPublicKey?: string;
}

export interface InitResult {
  profile: string;
  path: string;
  settings: Record<string, ConfigValue>;
  /** Provider token environment variable still to set, if none was found or given. */
  missingToken: string | null;
  /** What migrations and backups still need (storage, DNS, their secrets), in words. */
  missing: string[];
}

const INTRODUCTION = [
  "automna runs one always-on AI agent per user on Hetzner Cloud, Fly.io or DigitalOcean and moves",
  "them between providers. This sets the defaults new agents get (provider, region, size, image,",
  "SSH key), where state is kept, and the object storage and DNS that migrations and backups use.",
  "Every answer is also a flag (automna init --help); nothing is created at any provider.",
  "",
];

function resolveProvider(value: string): ProviderInfo {
  const info = providerInfo(value);
  if (!info) {
    const near = closest(value, providerNames());
    throw new UsageError(`unknown provider "${value}"`, { hint: `${near.length ? `did you mean ${near[0]}? ` : ""}providers: ${providerNames().join(", ")}` });
  }
  return info;
}

/** Guided setup: every question has a flag, so `--no-input` with flags runs in CI. */
export async function runInit(ctx: Context, opts: InitOptions): Promise<InitResult> {
  // init makes the profile --profile names.
  ctx.createsProfile = true;
  const config = await ctx.config();
  const current = (key: string): string | undefined => config.getString(key);
  const p = ctx.prompt;
  if (ctx.io.canPrompt) for (const line of INTRODUCTION) ctx.io.info(line);

  const providerId = opts.provider ?? (await p.select({
    message: "Default provider:",
    flag: `--provider <${PROVIDERS.map((x) => x.id).join("|")}>`,
    choices: PROVIDERS.map((x) => ({ name: x.title, value: x.id })),
    default: providerInfo(current("provider") ?? "")?.id ?? PROVIDERS[0]!.id,
  }));
  const provider = resolveProvider(providerId);
  const sameProvider = providerInfo(current("provider") ?? "")?.id === provider.id;
  // Regions and sizes are checked against the provider's catalog now, not at the first provision.
  const { checkPlacement, namesOf } = await import("../../lib/catalog-check.js");
  const [regions, sizes] = await Promise.all([namesOf(provider, "region"), namesOf(provider, "size")]);
  const region = opts.region ?? (await p.input({
    message: `Default ${provider.title} region:`, flag: "--region <name>", default: (sameProvider && current("region")) || provider.defaultRegion,
    validate: (v) => regions.includes(v) || `${provider.title} regions: ${regions.join(", ")}`,
  }));
  await checkPlacement(provider, "region", region);
  const size = opts.size ?? (await p.input({
    message: `Default ${provider.title} size:`, flag: "--size <name>", default: (sameProvider && current("size")) || provider.defaultSize,
    validate: (v) => sizes.includes(v) || `${provider.title} sizes: ${sizes.join(", ")} (automna pricing list --provider ${provider.id} shows their prices)`,
  }));
  await checkPlacement(provider, "size", size);
  const image = opts.image ?? (await p.input({ message: "Agent container image:", flag: "--image <ref>", default: current("image") ?? "" }));
  const home = ctx.env.HOME ?? "";
  const guessKey = [current("ssh.publicKey"), join(home, ".ssh", "id_ed25519.pub"), join(home, ".ssh", "id_rsa.pub")].find((k) => k && existsSync(k));
  const sshPublicKey = opts.sshPublicKey ?? (await p.input({
    message: "SSH public key for new servers:", flag: "--ssh-public-key <file>", default: guessKey ?? "",
    validate: (v) => (v === "" || existsSync(v) ? true : `no file at ${v}`),
  }));
  if (sshPublicKey && !existsSync(sshPublicKey)) throw new UsageError(`--ssh-public-key: no file at ${sshPublicKey}`);
  const statePath = ctx.globals.state ?? (await p.input({
    message: "State database:", flag: "--state <path>", default: current("state.path") ?? defaultStatePath(ctx.env, config.profile),
  }));

  const settings: Record<string, ConfigValue> = { provider: provider.id, region, size };
  if (image) settings.image = image;
  if (sshPublicKey) {
    settings["ssh.publicKey"] = sshPublicKey;
    settings["ssh.identityFile"] = sshPublicKey.replace(/\.pub$/, "");
  }
  if (statePath) settings["state.path"] = statePath;

  let missingToken: string | null = null;
  if (!config.secret(provider.tokenKey)) {
    if (ctx.io.canPrompt) {
      const token = await p.password({ message: `${provider.title} API token (stored in ${config.path}, mode 0600; empty to skip):`, flag: provider.tokenEnv });
      if (token.trim()) config.set(provider.tokenKey, token.trim());
      else missingToken = provider.tokenEnv;
    } else missingToken = provider.tokenEnv;
  }
  const services = await askServices(ctx, config, opts);
  Object.assign(settings, services.settings);
  config.setMany({ ...settings, ...services.secrets });
  return { profile: config.profile, path: config.path, settings, missingToken, missing: services.missing };
}

export const initCommand: CommandModule = {
  register(command: Command, ctx: Context) {
    command
      .option("--provider <name>", `default provider (${providerNames().join(", ")})`)
      .option("--region <name>", "default region")
      .option("--size <name>", "default size")
      .option("--image <ref>", "agent container image")
      .option("--ssh-public-key <file>", "public key installed on new servers")
      .option("--storage-endpoint <url>", "S3-compatible endpoint for migrations and backups (with --storage-bucket)")
      .option("--storage-bucket <name>", "bucket for migrations and backups")
      .option("--no-storage", "skip object storage (set it later with automna config set)")
      .option("--dns-zone <id>", "Cloudflare zone id for the users' names (with --dns-template)")
      .option("--dns-template <template>", "name per user, e.g. {user}.agents.example.com")
      .option("--no-dns", "skip DNS")
      .addHelpText("after", examples("automna init", "automna init --provider fly --region ams --size shared-cpu-1x-2gb --no-input", "automna --profile staging init"))
      .action(action(ctx, async (opts: InitOptions) => {
        const result = await runInit(ctx, opts);
        if (ctx.globals.json) return ctx.io.json(result);
        ctx.io.success(`profile ${result.profile} written to ${result.path}`);
        renderDetails(ctx.io, Object.entries(result.settings).map(([k, v]) => [k, String(v)]));
        if (result.missingToken) ctx.io.info(`Next: export ${result.missingToken}=<your token> (tokens are read from the environment or the config file, never from flags)`);
        if (result.missing.length) ctx.io.info(`Migrations and backups still need: ${result.missing.join(", ")}`);
      }));
  },
};
