import type { Command } from "commander";
import type { Context } from "../../context.js";
import { action, examples, type CommandModule } from "../../lib/command.js";
import { addListFlags, listOptionsFrom, renderList, type Column } from "../../lib/output.js";
import { parseCurrency } from "../../pricing/money.js";
import type { ListedEntry } from "./list.js";
import { registerPricingRefresh } from "./refresh.js";
import { fixedPrice, hourlyPrice, positiveNumber } from "../../pricing/values.js";

export type { ListedEntry };

export const PRICING_COLUMNS: Column<ListedEntry>[] = [
  { name: "provider", value: (e) => e.provider },
  { name: "plan", value: (e) => e.plan },
  { name: "vcpu", header: "VCPU", value: (e) => e.vcpu, align: "right" },
  { name: "cpu", value: (e) => e.cpuKind },
  { name: "ram_gb", header: "RAM GB", value: (e) => e.ramGb, align: "right" },
  { name: "disk_gb", header: "DISK GB", value: (e) => e.diskGb, align: "right" },
  { name: "monthly", value: (e) => fixedPrice(e.monthlyPrice, 2), align: "right" },
  { name: "hourly", value: (e) => hourlyPrice(e.hourlyPrice), align: "right" },
  { name: "currency", header: "CUR", value: (e) => e.currency },
  { name: "billing", value: (e) => e.billing },
  { name: "availability", value: (e) => e.availability },
  { name: "traffic_gb", header: "TRAFFIC GB", value: (e) => e.includedTrafficGb, optional: true, align: "right" },
  { name: "ipv4_month", header: "IPV4/MO", value: (e) => fixedPrice(e.extras.ipv4Monthly, 2), optional: true, align: "right" },
  { name: "volume_gb_month", header: "VOLUME GB/MO", value: (e) => fixedPrice(e.extras.volumeGbMonthly, 3), optional: true, align: "right" },
  { name: "egress_gb", header: "EGRESS/GB", value: (e) => fixedPrice(e.extras.egressGb, 3), optional: true, align: "right" },
  { name: "as_of", value: (e) => e.asOf, optional: true },
  { name: "live", value: (e) => e.live === true, optional: true },
  { name: "source", value: (e) => e.source, optional: true },
  { name: "note", value: (e) => e.note, optional: true },
];

interface ListFlags {
  provider?: string;
  minRam?: string;
  minVcpu?: string;
  currency?: string;
  output?: string;
  columns?: string;
  header: boolean;
}

export const pricingCommand: CommandModule = {
  register(pricing: Command, ctx: Context) {
    pricing.addHelpText("after", examples("automna pricing list", "automna pricing list --provider hetzner,fly --min-ram 2", "automna pricing refresh"));

    addListFlags(pricing
      .command("list")
      .description("list catalog plans (live prices where refreshed), cheapest first per provider")
      .option("--provider <list>", "only these providers, comma-separated")
      .option("--min-ram <gb>", "only plans with at least this much RAM (GB)")
      .option("--min-vcpu <n>", "only plans with at least this many vCPUs")
      .option("--currency <code>", "convert prices to USD or EUR (rate: config pricing.eurUsd)"), PRICING_COLUMNS)
      .addHelpText("after", examples("automna pricing list --provider do", "automna pricing list --min-ram 4 --currency EUR", "automna pricing list --json"))
      .action(action(ctx, async (flags: ListFlags) => {
        const output = listOptionsFrom(flags, ctx.globals.json);
        const { runPricingList } = await import("./list.js");
        const result = await runPricingList(ctx, {
          provider: flags.provider,
          minRam: flags.minRam === undefined ? undefined : positiveNumber("--min-ram", flags.minRam),
          minVcpu: flags.minVcpu === undefined ? undefined : positiveNumber("--min-vcpu", flags.minVcpu),
          currency: flags.currency === undefined ? undefined : parseCurrency("--currency", flags.currency),
        });
        renderList(ctx.io, result.entries, PRICING_COLUMNS, output);
        if (output.format === "table") {
          if (result.entries.length === 0) ctx.io.info("no plan matches");
          else ctx.io.info(`catalog as of ${result.asOf}${result.sources.length > 1 ? ", live prices where refreshed" : ""}; notes: automna pricing list --columns provider,plan,note`);
        }
      }));

    registerPricingRefresh(pricing, ctx);
  },
};
