import type { CommandModule } from "../lib/command.js";
import { completionCommand } from "./completion.js";
import { configCommand } from "./config.js";
import { costReportCommand } from "./cost-report/index.js";
import { initCommand } from "./init.js";
import { pricingCommand } from "./pricing/index.js";

/**
 * Every top-level command, in help order within its group. A command appears here only once it
 * works end to end; its run function's heavy modules load when it runs, not at start-up.
 */
export const COMMANDS: CommandModule[] = [initCommand, configCommand, completionCommand, costReportCommand, pricingCommand];
