import { randomBytes } from "node:crypto";

/**
 * Short, time-sortable ids with a readable prefix: `op_m3x9k2a1b7f3c2d1`. Sorting by id sorts by
 * creation time, which makes journals and lists stable without an extra column.
 */
export function newId(prefix: string, now: Date = new Date()): string {
  const time = now.getTime().toString(36).padStart(9, "0");
  const rand = randomBytes(6).toString("hex");
  return `${prefix}_${time}${rand}`;
}
