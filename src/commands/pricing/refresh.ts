import type { Command } from "commander";
import type { Context } from "../../context.js";
import { action, examples } from "../../lib/command.js";
import { DOCUMENT_FORMATS, formatTable, renderDocument, resolveFormat } from "../../lib/output.js";

export type { PricingRefreshResult, RefreshedProvider } from "./refresh-run.js";

export function registerPricingRefresh(pricing: Command, ctx: Context): void {
  pricing
    .command("refresh")
    .description("read live sizes and prices from Hetzner and DigitalOcean (where a token is set) and keep them with their date")
    .option("--provider <list>", "only these providers, comma-separated")
    .option("-o, --output <format>", DOCUMENT_FORMATS.join(", "))
    .addHelpText("after", examples("automna pricing refresh", "automna pricing refresh --provider hetzner --json", "automna pricing refresh -o yaml"))
    .action(action(ctx, async (flags: { provider?: string; output?: string }) => {
      const format = resolveFormat(flags.output, ctx.globals.json, DOCUMENT_FORMATS);
      const { runPricingRefresh } = await import("./refresh-run.js");
      const result = await runPricingRefresh(ctx, { provider: flags.provider });
      renderDocument(ctx.io, format, result, () => {
        const rows = [
          ...result.refreshed.map((r) => [r.provider, `${r.plans} plans`, `live prices of ${r.fetchedAt}`]),
          ...result.skipped.map((s) => [s.provider, "skipped", s.reason]),
          ...result.failed.map((f) => [f.provider, "failed", f.error]),
        ];
        for (const line of formatTable(null, rows)) ctx.io.out(line);
        if (result.refreshed.length) ctx.io.success(`saved to ${result.path}; pricing list and cost-report use them from now on`);
      });
      // Some providers refreshed, some failed: partial.
      return result.failed.length && result.refreshed.length ? 3 : result.failed.length ? 1 : 0;
    }));
}
