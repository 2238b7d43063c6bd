import { barChart, type Bar } from "../../lib/bar-chart.js";
import type { IO } from "../../lib/io.js";
import { formatTable, renderDocument, renderList, type Column, type ListOptions } from "../../lib/output.js";
import { formatMoney, roundMoney } from "../../pricing/money.js";
import { count } from "../../lib/words.js";
import type { CostReport, SpendGroup } from "../../pricing/report.js";
import type { Currency } from "../../pricing/types.js";

type Row = NonNullable<CostReport["compare"]>["rows"][number];

export type RenderOptions = ListOptions;

/** Rounds every number of the document to 4 decimals: exact enough, and stable to compare. */
export function roundDeep<T>(value: T): T {
  if (typeof value === "number") return roundMoney(value) as T;
  if (Array.isArray(value)) return value.map(roundDeep) as T;
  if (value && typeof value === "object") return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, roundDeep(v)])) as T;
  return value;
}

/** Money cells: symbol and cents in a table, plain numbers in CSV. */
function moneyCell(format: RenderOptions["format"], currency: Currency) {
  return (v: number | null | undefined): string | null => {
    if (v === null || v === undefined) return null;
    return format === "table" ? formatMoney(v, currency) : roundMoney(v).toFixed(4);
  };
}

const pct = (v: number | null): string | null => (v === null ? null : `${v.toFixed(1)}%`);

export function spendColumns(report: CostReport, format: RenderOptions["format"]): Column<SpendGroup>[] {
  const m = moneyCell(format, report.currency);
  const cols: Column<SpendGroup>[] = [
    { name: report.by, value: (g) => g.key },
    { name: "users", value: (g) => g.users, align: "right", optional: report.by === "user" && format === "table" },
    { name: "intervals", value: (g) => g.intervals, align: "right", optional: true },
    { name: "server_hours", header: "SERVER H", value: (g) => g.serverHours.toFixed(1), align: "right", optional: true },
    { name: "server", value: (g) => m(g.server), align: "right" },
    { name: "volume", value: (g) => m(g.volume), align: "right" },
    { name: "ipv4", header: "IPV4", value: (g) => m(g.ipv4), align: "right" },
    { name: "total", value: (g) => m(g.total), align: "right" },
    { name: "share", value: (g) => (format === "table" ? pct(g.share) : g.share.toFixed(2)), align: "right" },
    { name: "projected_month", header: "PROJECTED/MO", value: (g) => m(g.projectedMonthly), align: "right" },
    { name: "per_user_month", header: "PER USER/MO", value: (g) => m(g.projectedPerUser), align: "right" },
    { name: "currency", value: () => report.currency, optional: format === "table" },
  ];
  report.margins.forEach((margin, i) => {
    cols.push({ name: `margin_${margin.planPrice}`, header: `MARGIN@${margin.planPrice}`, value: (g) => m(g.margins?.[i]?.margin), align: "right" });
  });
  if (report.planPriceByGroup) {
    cols.push(
      { name: "plan_price", header: "PLAN PRICE", value: (g) => m(g.planPrice), align: "right" },
      { name: "margin", value: (g) => m(g.margin), align: "right" },
      { name: "margin_pct", header: "MARGIN %", value: (g) => (g.marginPct === null || g.marginPct === undefined ? null : format === "table" ? pct(g.marginPct) : g.marginPct.toFixed(2)), align: "right" },
    );
  }
  return cols;
}

export function compareColumns(report: CostReport, format: RenderOptions["format"]): Column<Row>[] {
  const m = moneyCell(format, report.currency);
  const plans = (r: Row): string => r.plans.map((p) => (r.plans.length > 1 ? `${p.plan}×${p.users}` : p.plan)).join(" + ");
  const cols: Column<Row>[] = [
    { name: "provider", value: (r) => r.provider },
    { name: "plan", value: (r) => plans(r) },
    { name: "vcpu", header: "VCPU", value: (r) => r.vcpu, align: "right" },
    { name: "ram_gb", header: "RAM GB", value: (r) => r.ramGb, align: "right" },
    { name: "per_user", header: "PER USER", value: (r) => m(r.perUser), align: "right" },
    { name: "monthly", value: (r) => m(r.monthly), align: "right" },
    { name: "saving", value: (r) => m(r.saving), align: "right", optional: format === "table" && !report.compare?.current },
    { name: "saving_pct", header: "SAVING %", value: (r) => (r.savingPct === null ? null : format === "table" ? pct(r.savingPct) : r.savingPct.toFixed(2)), align: "right", optional: true },
    { name: "always_on", header: "ALWAYS-ON", value: (r) => (format === "table" ? (r.alwaysOn ? "yes" : `no: ${r.availability}`) : r.alwaysOn) },
    { name: "availability", value: (r) => r.availability, optional: true },
    { name: "estimate", value: (r) => r.notes.some((n) => /estimate/i.test(n)), optional: format === "table" },
    { name: "currency", value: () => report.currency, optional: format === "table" },
  ];
  const prices = report.compare?.rows[0]?.margins ?? [];
  prices.forEach((margin, i) => {
    cols.push({ name: `margin_${margin.planPrice}`, header: `MARGIN@${margin.planPrice}`, value: (r) => m(r.margins?.[i]?.margin), align: "right" });
  });
  return cols;
}

/** Renders the report: one JSON document, one CSV table (the comparison, else the spend), or the human view. */
export function renderCostReport(io: IO, report: CostReport, options: RenderOptions): void {
  if (options.format === "json" || options.format === "yaml") return renderDocument(io, options.format, roundDeep(report), () => undefined);
  const list = { ...options };
  if (options.format === "csv") {
    if (report.compare) renderList(io, report.compare.rows, compareColumns(report, "csv"), list);
    else renderList(io, report.spend.groups, spendColumns(report, "csv"), list);
    return;
  }
  renderTable(io, report, options);
}

/** `2026-11-01` at midnight, `2026-10-30 12:00Z` otherwise. */
function shortTime(iso: string): string {
  return iso.endsWith("T00:00:00.000Z") ? iso.slice(0, 10) : `${iso.slice(0, 10)} ${iso.slice(11, 16)}Z`;
}

function chartWidth(io: IO, labels: string[]): number {
  const label = Math.max(...labels.map((l) => l.length), 8);
  return Math.max(10, Math.min(40, io.width - label - 30));
}

function renderTable(io: IO, report: CostReport, options: RenderOptions): void {
  const cur = report.currency;
  const money = (v: number | null): string => (v === null ? "-" : formatMoney(v, cur));
  const c = io.color;
  const rate = cur === "USD" ? `EUR at ${report.eurUsd} USD` : `USD at ${(1 / report.eurUsd).toFixed(4)} EUR`;
  const list = { ...options, format: "table" as const };
  const s = report.spend;
  const spendShown = !report.compare || s.intervals > 0;
  if (spendShown) {
    io.out(c.bold(`Cost report ${report.period.label}`) + c.dim(`  ${shortTime(report.period.from)} to ${shortTime(report.period.to)}, ${cur} (${rate})`));
    if (s.intervals === 0) {
      io.out("No usage recorded in this period.");
      io.out(c.dim("Try a comparison without a fleet: automna cost-report --compare --users 100 --ram 2"));
    } else {
      const p = report.projectedMonth;
      for (const line of formatTable(null, [
        ["Spend:", money(s.total), c.dim(`server ${money(s.server)}, volumes ${money(s.volume)}, IPv4 ${money(s.ipv4)}`)],
        ["Users:", String(s.users), c.dim(`average ${money(s.averagePerUser)} per user over the period`)],
        [`Projected ${p.month}:`, money(p.total), c.dim(`${count(p.users, "user")}, ${money(p.averagePerUser)} per user for the full month`)],
      ], ["left", "right", "left"])) io.out(line);
      io.out();
      renderList(io, s.groups, spendColumns(report, "table"), report.compare ? { format: "table" } : list);
      io.out();
      const bars: Bar[] = s.providers.map((g) => ({ label: g.provider, value: g.total, text: money(g.total) }));
      for (const line of barChart(bars, chartWidth(io, bars.map((b) => b.label)), c)) io.out(line);
      if (report.margins.length) {
        io.out();
        io.out(c.bold("Margin per user") + c.dim(` at the projected ${money(report.projectedMonth.averagePerUser)} per user per month`));
        const rows = report.margins.map((mg) => [money(mg.planPrice), money(mg.margin), `${mg.marginPct.toFixed(1)}%`]);
        for (const line of formatTable(["PLAN", "MARGIN", "MARGIN %"], rows, ["right", "right", "right"])) io.out(line);
      }
    }
  }
  if (report.compare) renderCompare(io, report, list, spendShown);
}

function renderCompare(io: IO, report: CostReport, list: ListOptions, after: boolean): void {
  const cmp = report.compare!;
  const cur = report.currency;
  const money = (v: number | null): string => (v === null ? "-" : formatMoney(v, cur));
  const c = io.color;
  if (after) io.out();
  const need = cmp.shape.map((g) => `${g.users} × ${g.need.ramGb} GB${g.need.vcpu ? ` / ${g.need.vcpu} vCPU` : ""}`).join(", ");
  const basis = cmp.basis === "fleet" ? "the running fleet" : "--users/--ram";
  io.out(c.bold(`Monthly cost of ${cmp.users} user${cmp.users === 1 ? "" : "s"} on every provider`) + c.dim(`  need ${need} (from ${basis}), cheapest plan that fits, ${cur}`));
  if (cmp.current) io.out(c.dim(`Current fleet: ${money(cmp.current.monthly)} a month (${money(cmp.current.perUser)} per user, servers and their IPv4)`));
  renderList(io, cmp.rows, compareColumns(report, "table"), list);
  for (const u of cmp.unmet) io.out(c.dim(`${u.provider}: ${u.reason} in the catalog`));
  io.out();
  const bars: Bar[] = cmp.rows.map((r) => ({
    label: r.provider,
    value: r.monthly,
    muted: !r.alwaysOn,
    text: `${money(r.monthly)}${r.alwaysOn ? "" : c.yellow(`  not always-on (${r.availability})`)}`,
  }));
  for (const line of barChart(bars, chartWidth(io, bars.map((b) => b.label)), c)) io.out(line);
  if (cmp.rows.some((r) => r.notes.some((n) => /estimate/i.test(n)))) {
    io.out(c.dim("Some prices are estimates: automna pricing list --columns provider,plan,monthly,note"));
  }
}
