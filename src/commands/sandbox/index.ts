import { Option, type Command } from "commander";
import type { Context } from "../../context.js";
import { action, examples, type CommandModule } from "../../lib/command.js";
import { UsageError } from "../../lib/errors.js";
import { addOutputFlag, DOCUMENT_FORMATS, renderDetails, renderDocument, resolveFormat } from "../../lib/output.js";
import { parseInteger, parseNumber } from "../../lib/validate.js";
import { MANIFESTS } from "../../providers/manifests.js";
import { DEFAULT_PORT, portPlan, runSandboxDown, runSandboxStatus, runSandboxUp, type UpOptions, type UpResult } from "./run.js";

interface UpFlags {
  detach?: boolean;
  dir?: string;
  port?: string;
  actionDelay?: string;
  rateLimitScale?: string;
  rateLimits: boolean;
  healthPort?: string;
  sshPort?: string;
  sshLatency?: string;
  faults?: string;
  seedCloudflare?: string;
  internalDaemon?: boolean;
}

function parseUpFlags(flags: UpFlags): UpOptions {
  return {
    detach: flags.detach === true,
    dir: flags.dir,
    port: flags.port === undefined ? DEFAULT_PORT : parseInteger("--port", flags.port, 0, 65532),
    actionDelay: flags.actionDelay === undefined ? undefined : parseInteger("--action-delay", flags.actionDelay, 0, 600_000),
    rateLimitScale: flags.rateLimitScale === undefined ? undefined : positive(flags.rateLimitScale),
    rateLimits: flags.rateLimits,
    healthPort: flags.healthPort === undefined ? undefined : parseInteger("--health-port", flags.healthPort, 1, 65535),
    sshPort: flags.sshPort === undefined ? undefined : parseInteger("--ssh-port", flags.sshPort, 1, 65535),
    sshLatency: flags.sshLatency === undefined ? undefined : parseInteger("--ssh-latency", flags.sshLatency, 0, 10_000),
    faults: flags.faults,
    ...(flags.seedCloudflare === undefined ? {} : { seedCloudflare: parseInteger("--seed-cloudflare", flags.seedCloudflare, 1, 1000) }),
    internalDaemon: flags.internalDaemon === true,
  };
}

function positive(value: string): number {
  const n = parseNumber("--rate-limit-scale", value, 0);
  if (n <= 0) throw new UsageError(`--rate-limit-scale must be greater than 0, got "${value}"`);
  return n;
}

function renderUp(ctx: Context, r: UpResult): void {
  if (ctx.globals.json) return ctx.io.json(r);
  const how = r.alreadyRunning ? "already running" : r.detached ? "running in the background" : "running (Ctrl-C stops it)";
  ctx.io.success(`sandbox ${how}, pid ${r.pid}, world in ${r.dir}`);
  renderDetails(ctx.io, [
    ...MANIFESTS.map((m): [string, string] => [m.id, r.urls[m.id]]), ["admin", r.urls.admin],
    ["s3", r.urls.s3 ?? null], ["cloudflare", r.urls.cloudflare ?? null],
    ["ssh port", r.sshPort],
  ]);
  if (r.config) {
    ctx.io.info(`profile "${r.profile}" written to ${r.config}:`);
    for (const [key, value] of Object.entries(r.settings)) ctx.io.info(`  ${key} = ${String(value)}`);
    ctx.io.info(`Next: automna --profile ${r.profile} <command>   (stop with: automna sandbox down)`);
  }
  if (r.seededMapping) ctx.io.info(`Cloudflare Sandbox users seeded; import them with: automna --profile ${r.profile} import --from-file ${r.seededMapping}`);
  if (r.overriddenBy.length) ctx.io.warn(`${r.overriddenBy.join(", ")} ${r.overriddenBy.length === 1 ? "is" : "are"} set in your environment and override the sandbox profile`);
}

export const sandboxCommand: CommandModule = {
  register(sandbox: Command, ctx: Context) {
    sandbox.addHelpText("after", examples("automna sandbox up --detach", "automna --profile sandbox list", "automna sandbox status --json", "automna sandbox down"));

    sandbox
      .command("up")
      .description(`serve the provider stand-ins on loopback and write the "sandbox" profile`)
      .option("--detach", "run in the background and return once it answers")
      .option("--dir <dir>", "world directory (default $XDG_DATA_HOME/automna/sandbox)")
      .option("--port <n>", `base port: ${portPlan()}; 0 for ephemeral (default ${DEFAULT_PORT})`)
      .option("--action-delay <ms>", "how long async actions and state changes take (default 300)")
      .option("--rate-limit-scale <x>", "speed up the providers' rate-limit refill by this factor (default 1)")
      .option("--no-rate-limits", "do not enforce the providers' rate limits")
      .option("--health-port <n>", "port of each host's agent health endpoint (default 8080)")
      .option("--ssh-port <n>", "SSH port on each host's own address (default 22 as root, else 2222)")
      .option("--ssh-latency <ms>", "simulated one-way network latency of SSH connections, as to a real datacenter (default 0)")
      .option("--faults <file>", "JSON fault spec in force from the start ({\"rules\": [...]})")
      .option("--seed-cloudflare <n>", "start with N Cloudflare Sandbox users (data in R2) that automna does not know yet; writes their import mapping")
      .addOption(new Option("--internal-daemon").hideHelp())
      .addHelpText("after", examples("automna sandbox up", "automna sandbox up --detach --port 0 --action-delay 50", "automna sandbox up --dir ./world --no-rate-limits"))
      .action(action(ctx, async (flags: UpFlags) => {
        const opts = parseUpFlags(flags);
        const { result, done } = await runSandboxUp(ctx, opts);
        if (!opts.internalDaemon) renderUp(ctx, result);
        await done;
        if (!opts.detach && !opts.internalDaemon && !ctx.globals.json) ctx.io.info("sandbox stopped");
      }));

    sandbox
      .command("down")
      .description("stop the background sandbox (its world stays on disk)")
      .option("--dir <dir>", "world directory")
      .action(action(ctx, async (flags: { dir?: string }) => {
        const result = await runSandboxDown(ctx, flags);
        if (ctx.globals.json) return ctx.io.json(result);
        if (result.wasRunning) ctx.io.success(`sandbox stopped (pid ${result.pid}); its world stays in ${result.dir}`);
        else ctx.io.info(`no sandbox is running on ${result.dir}`);
      }));

    addOutputFlag(sandbox
      .command("status")
      .description("whether the sandbox runs, its URLs and what its world holds")
      .option("--dir <dir>", "world directory"))
      .action(action(ctx, async (flags: { dir?: string; output?: string }) => {
        const format = resolveFormat(flags.output, ctx.globals.json, DOCUMENT_FORMATS);
        const result = await runSandboxStatus(ctx, flags);
        if (format !== "table") return renderDocument(ctx.io, format, result, () => undefined);
        const pairs: [string, string | number | null][] = [
          ["status", result.running ? `running (pid ${result.pid}, since ${result.startedAt})` : "not running"],
          ["dir", result.dir],
        ];
        const urls = result.urls;
        if (urls) pairs.push(...MANIFESTS.map((m): [string, string] => [m.id, urls[m.id]]), ["admin", urls.admin]);
        if (result.urls?.s3) pairs.push(["s3", result.urls.s3]);
        if (result.urls?.cloudflare) pairs.push(["cloudflare", result.urls.cloudflare]);
        for (const [key, value] of Object.entries(result.counts)) pairs.push([key, value]);
        renderDetails(ctx.io, pairs);
      }));
  },
};
