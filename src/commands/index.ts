import type { Command } from "commander";
import type { Context } from "../context.js";
import type { CommandGroup, CommandModule, GlobalFlag } from "../lib/command.js";

/**
 * A top-level command as automna knows it before loading it: enough for the root help and typo
 * suggestions. Its module loads only when it is needed (loadCommand), so start-up costs the same
 * however many commands there are.
 */
export interface CommandEntry {
  name: string;
  group: CommandGroup;
  /** Its line in `automna --help` and the description at the top of its own help. */
  summary: string;
  /** One example invocation for the root help. */
  example: string;
  /**
   * The global flags it honours, listed in its help. --quiet, --verbose, --debug and --no-color
   * apply to every command and are not repeated here.
   */
  globals: readonly GlobalFlag[];
  load(): Promise<CommandModule>;
}

// What a command reads, as global flags: settings (--profile, --config), then the state store
// they locate (--state).
const SETTINGS: GlobalFlag[] = ["profile", "config"];
const STATE: GlobalFlag[] = [...SETTINGS, "state"];
// A command that asks before it changes something: --yes answers, --no-input refuses to ask.
const CONFIRMS: GlobalFlag[] = ["yes", "input"];

/**
 * Every top-level command, in help order within its group. To add one: an entry here and a
 * file exporting its CommandModule (see src/commands/status.ts). A command appears here only
 * once it works end to end.
 */
export const COMMANDS: readonly CommandEntry[] = [
  {
    name: "provision", group: "Fleet", globals: ["json", ...STATE],
    summary: "create each user's agent instance (idempotent: users who have one are left alone)",
    example: "automna provision alice bob --provider hetzner --region fsn1",
    load: async () => (await import("./provision/index.js")).provisionCommand,
  },
  {
    name: "import", group: "Fleet", globals: ["json", ...STATE],
    summary: "take over users whose agents exist at a provider but not in automna's state (a mapping file, or --match by name)",
    example: "automna import --from-file users.csv --accept-host-key",
    load: async () => (await import("./import.js")).importCommand,
  },
  {
    name: "list", group: "Fleet", globals: ["json", ...STATE],
    summary: "every user's instance, from state (--refresh asks the providers first)",
    example: "automna list --provider fly -o json",
    load: async () => (await import("./list.js")).listCommand,
  },
  {
    name: "status", group: "Fleet", globals: ["json", ...STATE],
    summary: "where a user's agent runs, its ids, addresses, health, price and usage history",
    example: "automna status alice",
    load: async () => (await import("./status.js")).statusCommand,
  },
  {
    name: "label", group: "Fleet", globals: ["json", ...STATE],
    summary: "set (k=v) and remove (k-) users' labels, which -l selects on; with no change, print them",
    example: "automna label alice bob plan=pro cohort=beta",
    load: async () => (await import("./label.js")).labelCommand,
  },
  {
    name: "destroy", group: "Fleet", globals: ["json", ...STATE, ...CONFIRMS],
    summary: "remove users' agent instances and their data at the provider (idempotent)",
    example: "automna destroy alice --yes",
    load: async () => (await import("./destroy.js")).destroyCommand,
  },
  {
    name: "doctor", group: "Fleet", globals: ["json", ...STATE, ...CONFIRMS],
    summary: "find drift between state and providers: orphans, missing and mismatched instances, DNS records with no instance behind them (exit 1 when any)",
    example: "automna doctor --fix",
    load: async () => (await import("./doctor.js")).doctorCommand,
  },
  {
    name: "logs", group: "Access", globals: ["json", ...STATE],
    summary: "the agents' logs, several users merged in time order; -f follows and survives dropped connections",
    example: "automna logs alice -f --since 10m",
    load: async () => (await import("./logs.js")).logsCommand,
  },
  {
    name: "ssh", group: "Access", globals: STATE,
    summary: "a shell on a user's machine, or one command (its exit code becomes automna's)",
    example: "automna ssh alice -- docker ps",
    load: async () => (await import("./ssh.js")).sshCommand,
  },
  {
    name: "exec", group: "Access", globals: ["json", ...STATE],
    summary: "run one command on many users' machines at once; output prefixed by user (exit 3 if any failed)",
    example: "automna exec alice bob -- df -h /data",
    load: async () => (await import("./exec.js")).execCommand,
  },
  {
    name: "env", group: "Access", globals: ["json", ...STATE],
    summary: "the agent's environment variables and secrets: list names, set, unset (the agent restarts)",
    example: "automna env set alice bob --secret OPENAI_API_KEY",
    load: async () => (await import("./env.js")).envCommand,
  },
  {
    name: "migrate", group: "Migration", globals: ["json", ...STATE, ...CONFIRMS],
    summary: "move users' agents and their /data to another provider (journaled; resumable; rolled back on failure before the DNS switch)",
    example: "automna migrate alice --from fly --to hetzner --yes",
    load: async () => (await import("./migrate/index.js")).migrateCommand,
  },
  {
    name: "failover", group: "Migration", globals: ["json", ...STATE, ...CONFIRMS],
    summary: "bring users back on another provider from their newest verified backup when theirs is down (journaled; run again to resume; old instances marked lost)",
    example: "automna failover --provider hetzner --to fly",
    load: async () => (await import("./failover/index.js")).failoverCommand,
  },
  {
    name: "gc", group: "Migration", globals: ["json", ...STATE, ...CONFIRMS],
    summary: "destroy retired migration sources whose grace period (--keep-source) is over",
    example: "automna gc --yes",
    load: async () => (await import("./gc.js")).gcCommand,
  },
  {
    name: "backup", group: "Migration", globals: ["json", ...STATE, ...CONFIRMS],
    summary: "archive users' /data to object storage, verified against its manifest (--all for the fleet); list and prune backups",
    example: "automna backup --all --concurrency 8",
    load: async () => (await import("./backup/index.js")).backupCommand,
  },
  {
    name: "restore", group: "Migration", globals: ["json", ...STATE, ...CONFIRMS],
    summary: "replace a user's /data with a backup (verified before anything is deleted), then start and health-check the agent",
    example: "automna restore alice --from bk_m3x9k2a1b7f3c2d1",
    load: async () => (await import("./backup/index.js")).restoreCommand,
  },
  {
    name: "cost-report", group: "Cost", globals: ["json", ...STATE],
    summary: "what the fleet costs per user and provider, what it would cost elsewhere, the margin per plan",
    example: "automna cost-report --compare --users 100 --ram 2",
    load: async () => (await import("./cost-report/index.js")).costReportCommand,
  },
  {
    name: "pricing", group: "Cost", globals: ["json", ...SETTINGS],
    summary: "the price catalog: plans, sizes and prices of every provider (list, refresh)",
    example: "automna pricing list --min-ram 2",
    load: async () => (await import("./pricing/index.js")).pricingCommand,
  },
  {
    name: "state", group: "State", globals: ["json", ...STATE],
    summary: "the shared state server for teams: serve, token, audit",
    example: "automna state serve --db /srv/automna/state.db --listen 127.0.0.1:7070",
    load: async () => (await import("./state/index.js")).stateCommand,
  },
  {
    name: "lock", group: "State", globals: ["json", ...STATE, ...CONFIRMS],
    summary: "per-user leases: list, break, run a command under them",
    example: "automna lock list",
    load: async () => (await import("./lock/index.js")).lockCommand,
  },
  {
    name: "init", group: "Setup", globals: ["json", ...SETTINGS, "input"],
    summary: "guided setup: default provider, region, size, image, SSH key and state location",
    example: "automna init --provider hetzner --region fsn1 --size cx22 --no-input",
    load: async () => (await import("./init/index.js")).initCommand,
  },
  {
    name: "config", group: "Setup", globals: ["json", ...SETTINGS, "input"],
    summary: "read and change settings (get, set, unset, list, path)",
    example: "automna config set region fsn1",
    load: async () => (await import("./config.js")).configCommand,
  },
  {
    name: "sandbox", group: "Setup", globals: ["json", ...SETTINGS],
    summary: "local stand-ins for the Hetzner, DigitalOcean, Fly, S3 and Cloudflare DNS APIs and their hosts (up, down, status)",
    example: "automna sandbox up --detach",
    load: async () => (await import("./sandbox/index.js")).sandboxCommand,
  },
  {
    name: "completion", group: "Setup", globals: [],
    summary: "print a shell completion script (bash, zsh or fish)",
    example: 'eval "$(automna completion bash)"',
    load: async () => (await import("./completion.js")).completionCommand,
  },
  {
    name: "version", group: "Setup", globals: ["json"],
    summary: "print automna's version; with --json also Node's, the state schema versions and the platform",
    example: "automna version --json",
    load: async () => (await import("./version.js")).versionCommand,
  },
  {
    name: "help", group: "Setup", globals: [],
    summary: "a command's help, as automna <command> --help prints it",
    example: "automna help migrate status",
    load: async () => (await import("./help.js")).helpCommand,
  },
];

/** The entry of a top-level command name. */
export function findCommand(name: string): CommandEntry | undefined {
  return COMMANDS.find((c) => c.name === name);
}

const built = new WeakSet<Command>();

/** Whether loadCommand has built this command. */
export function isBuilt(command: Command): boolean {
  return built.has(command);
}

/**
 * Builds a top-level command from its module onto the command src/cli.ts made for it (named and
 * described), the first time it is needed: when the command line names it, for
 * `help <command>`, for completion. Later calls do nothing.
 */
export async function loadCommand(command: Command, ctx: Context): Promise<void> {
  const entry = command.parent?.parent ? undefined : findCommand(command.name());
  if (!entry || built.has(command)) return;
  built.add(command);
  (await entry.load()).register(command, ctx);
  // Commands inherit the program's settings but not this one: automna's help is the top-level
  // `help`, so no group grows an implicit `help` subcommand of its own.
  const noHelpCommand = (c: Command): void => {
    c.helpCommand(false);
    c.commands.forEach(noHelpCommand);
  };
  noHelpCommand(command);
}
