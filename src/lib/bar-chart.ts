import type { ChalkInstance } from "chalk";

export interface Bar {
  label: string;
  value: number;
  /** Printed after the bar (the formatted value, a flag). */
  text: string;
  /** Drawn in a muted colour (e.g. a provider that is not always-on). */
  muted?: boolean;
}

const EIGHTHS = ["", "▏", "▎", "▍", "▌", "▋", "▊", "▉"];

/** A bar of `cells` character cells at 1/8-cell resolution. */
export function blocks(cells: number): string {
  const eighths = Math.max(0, Math.round(cells * 8));
  return "█".repeat(Math.floor(eighths / 8)) + EIGHTHS[eighths % 8]!;
}

/**
 * A horizontal bar chart, one line per bar, scaled so the largest value fills `width` cells. A
 * value above zero always shows at least a sliver, so small costs stay visible. Colour comes
 * from the caller's chalk, which already follows NO_COLOR, --no-color and TTY detection.
 */
export function barChart(bars: Bar[], width: number, color: ChalkInstance): string[] {
  if (bars.length === 0) return [];
  const labelWidth = Math.max(...bars.map((b) => b.label.length));
  const max = Math.max(...bars.map((b) => b.value), 0);
  const barWidth = Math.max(10, width);
  return bars.map((b) => {
    const cells = max > 0 ? (Math.max(0, b.value) / max) * barWidth : 0;
    let bar = blocks(cells);
    if (bar === "" && b.value > 0) bar = EIGHTHS[1]!;
    const painted = b.muted ? color.yellow(bar) : color.cyan(bar);
    const pad = " ".repeat(Math.max(0, Math.ceil(barWidth) - bar.length));
    return `${b.label.padEnd(labelWidth)}  ${painted}${pad}  ${b.text}`.trimEnd();
  });
}
