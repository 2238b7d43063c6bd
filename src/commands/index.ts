import type { CommandModule } from "../lib/command.js";
import { backupCommand, restoreCommand } from "./backup.js";
import { completionCommand } from "./completion.js";
import { configCommand } from "./config.js";
import { costReportCommand } from "./cost-report/index.js";
import { destroyCommand } from "./destroy.js";
import { doctorCommand } from "./doctor.js";
import { envCommand } from "./env.js";
import { execCommand } from "./exec.js";
import { gcCommand } from "./gc.js";
import { initCommand } from "./init.js";
import { listCommand } from "./list.js";
import { lockCommand } from "./lock/index.js";
import { logsCommand } from "./logs.js";
import { migrateCommand } from "./migrate/index.js";
import { pricingCommand } from "./pricing/index.js";
import { provisionCommand } from "./provision.js";
import { sandboxCommand } from "./sandbox/index.js";
import { sshCommand } from "./ssh.js";
import { stateCommand } from "./state/index.js";
import { statusCommand } from "./status.js";

/**
 * Every top-level command, in help order within its group. A command appears here only once it
 * works end to end; its run function's heavy modules load when it runs, not at start-up.
 */
export const COMMANDS: CommandModule[] = [
  provisionCommand, listCommand, statusCommand, destroyCommand, doctorCommand,
  logsCommand, sshCommand, execCommand, envCommand,
  migrateCommand, gcCommand, backupCommand, restoreCommand,
  costReportCommand, pricingCommand,
  stateCommand, lockCommand,
  initCommand, configCommand, sandboxCommand, completionCommand,
];
