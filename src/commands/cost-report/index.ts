import type { Command } from "commander";
import type { Context } from "../../context.js";
import { action, examples, type CommandModule } from "../../lib/command.js";
import { addListFlags, listOptionsFrom, type OutputFormat } from "../../lib/output.js";
import { GROUP_BY } from "../../pricing/types.js";
import { renderCostReport } from "./render.js";
import { parseCostReportFlags, runCostReport, type Flags } from "./run.js";

const REPORT_FORMATS: readonly OutputFormat[] = ["table", "json", "yaml", "csv"];

export const costReportCommand: CommandModule = {
  register(command: Command, ctx: Context) {
    addListFlags(command
      .option("--period <window|month>", "30d, 12h, 2w or a month like 2026-11 (default: this month)")
      .option("--from <date>", "start of the period (2026-11-01 or an ISO time)")
      .option("--to <date>", "end of the period, exclusive (default: now)")
      .option("--by <key>", `group spend by ${GROUP_BY.join(", ")} (a user label, e.g. label:plan; default: provider)`)
      .option("--compare", "price the fleet's shape on every provider at its cheapest fitting plan")
      .option("--users <n>", "compare for N users instead of the running fleet (with --ram)")
      .option("--ram <gb>", "memory each user's agent needs, GB (with --users)")
      .option("--vcpu <n>", "vCPUs each user's agent needs (with --users)")
      .option("--plan-price <list>", "plan prices in the report currency, comma-separated (e.g. 29,79): margin per user at each; with --by label:plan, each plan's own (pro=29,team=79)")
      .option("--currency <code>", "report in USD (default) or EUR; rate: config pricing.eurUsd")
      .option("--provider <list>", "only these providers, comma-separated"), "columns of the main table (table and csv)", REPORT_FORMATS)
      .addHelpText("after", examples(
        "automna cost-report --compare --users 100 --ram 2",
        "automna cost-report --period 2026-11 --by user -o csv",
        "automna cost-report --period 30d --plan-price 29,79",
        "automna cost-report --by label:plan --plan-price basic=9,pro=29",
        "automna cost-report --compare --currency EUR --json",
      ))
      .action(action(ctx, async (flags: Flags) => {
        const output = listOptionsFrom(flags, ctx.globals.json, REPORT_FORMATS);
        const opts = parseCostReportFlags(flags);
        const report = await runCostReport(ctx, opts);
        for (const u of report.compare?.unknownSizes ?? []) {
          ctx.io.warn(`${u.users} user${u.users === 1 ? "" : "s"} on ${u.provider} ${u.size}: size not in the price catalog, left out of --compare`);
        }
        renderCostReport(ctx.io, report, output);
      }));
  },
};
