import type { Context } from "../context.js";
import { terminalText } from "./terminal-text.js";

/** `alice | line` with users padded to one width, so many users' output lines up (exec, logs); the line cleaned for a terminal. */
export function prefixer(ctx: Context, users: string[], stream: "stdout" | "stderr"): (user: string, line: string) => string {
  const width = Math.max(...users.map((u) => u.length));
  const c = stream === "stdout" ? ctx.io.color : ctx.io.colorErr;
  return (user, line) => `${c.cyan(user.padEnd(width))} ${c.dim("|")} ${terminalText(line)}`;
}
