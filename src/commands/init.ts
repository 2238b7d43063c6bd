import { existsSync } from "node:fs";
import { join } from "node:path";
import type { Command } from "commander";
import type { Context } from "../context.js";
import { action, examples, type CommandModule } from "../lib/command.js";
import type { ConfigValue } from "../lib/config.js";
import { closest } from "../lib/config-keys.js";
import { UsageError } from "../lib/errors.js";
import { renderDetails } from "../lib/output.js";
import { defaultStatePath } from "../lib/paths.js";
import { PROVIDERS, providerInfo, providerNames, type ProviderInfo } from "../providers/catalog.js";

export interface InitOptions {
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
}

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
  const config = await ctx.config();
  const current = (key: string): string | undefined => config.getString(key);
  const p = ctx.prompt;

  const providerId = opts.provider ?? (await p.select({
    message: "Default provider:",
    flag: "--provider <hetzner|fly|digitalocean>",
    choices: PROVIDERS.map((x) => ({ name: x.title, value: x.id })),
    default: (providerInfo(current("provider") ?? "")?.id ?? "hetzner") as ProviderInfo["id"],
  }));
  const provider = resolveProvider(providerId);
  const sameProvider = providerInfo(current("provider") ?? "")?.id === provider.id;
  const region = opts.region ?? (await p.input({
    message: `Default ${provider.title} region:`, flag: "--region <name>", default: (sameProvider && current("region")) || provider.defaultRegion,
  }));
  const size = opts.size ?? (await p.input({
    message: `Default ${provider.title} size:`, flag: "--size <name>", default: (sameProvider && current("size")) || provider.defaultSize,
  }));
  const image = opts.image ?? (await p.input({ message: "Agent container image:", flag: "--image <ref>", default: current("image") ?? "" }));
  const home = ctx.env.HOME ?? "";
  const guessKey = [current("ssh.publicKey"), join(home, ".ssh", "id_ed25519.pub"), join(home, ".ssh", "id_rsa.pub")].find((k) => k && existsSync(k));
  const sshPublicKey = opts.sshPublicKey ?? (await p.input({
    message: "SSH public key for new servers:", flag: "--ssh-public-key <file>", default: guessKey ?? "",
    validate: (v) => (v === "" || existsSync(v) ? true : `no file at ${v}`),
  }));
  if (sshPublicKey && !existsSync(sshPublicKey)) throw new UsageError(`--ssh-public-key: no file at ${sshPublicKey}`);
  const statePath = ctx.globals.state ?? (await p.input({
    message: "State database:", flag: "--state <path>", default: current("state.path") ?? defaultStatePath(ctx.env),
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
  config.setMany(settings);
  return { profile: config.profile, path: config.path, settings, missingToken };
}

export const initCommand: CommandModule = {
  register(command: Command, ctx: Context) {
    command
      .option("--provider <name>", `default provider (${providerNames().join(", ")})`)
      .option("--region <name>", "default region")
      .option("--size <name>", "default size")
      .option("--image <ref>", "agent container image")
      .option("--ssh-public-key <file>", "public key installed on new servers")
      .addHelpText("after", examples("automna init", "automna init --provider fly --region ams --size shared-cpu-1x-2gb --no-input", "automna --profile staging init"))
      .action(action(ctx, async (opts: InitOptions) => {
        const result = await runInit(ctx, opts);
        if (ctx.globals.json) return ctx.io.json(result);
        ctx.io.success(`profile ${result.profile} written to ${result.path}`);
        renderDetails(ctx.io, Object.entries(result.settings).map(([k, v]) => [k, String(v)]));
        if (result.missingToken) ctx.io.info(`Next: export ${result.missingToken}=<your token> (tokens are read from the environment or the config file, never from flags)`);
      }));
  },
};
