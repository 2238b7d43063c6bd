import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, test } from "vitest";
import { formatTimestamp, parseLogTime, readLog } from "../../src/sandbox/host/agent-log.js";
import { humanDuration } from "../../src/sandbox/host/container-view.js";

const dir = mkdtempSync(join(tmpdir(), "automna-agentlog-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const now = new Date("2026-11-29T12:00:00.000Z");

describe("docker logs time values", () => {
  test("timestamps are fixed-width RFC3339 with nanoseconds", () => {
    expect(formatTimestamp(1_795_953_600_123_456_789n)).toBe("2026-11-29T12:00:00.123456789Z");
    expect(formatTimestamp(1_795_953_600_000_000_000n)).toBe("2026-11-29T12:00:00.000000000Z");
  });

  test("--since accepts Go durations, unix times and RFC3339 in any zone", () => {
    expect(parseLogTime("10m", now)).toBe("2026-11-29T11:50:00.000000000Z");
    expect(parseLogTime("1h30m", now)).toBe("2026-11-29T10:30:00.000000000Z");
    expect(parseLogTime("1.5s", now)).toBe("2026-11-29T11:59:58.500000000Z");
    expect(parseLogTime("250ms", now)).toBe("2026-11-29T11:59:59.750000000Z");
    expect(parseLogTime("1795953600.5", now)).toBe("2026-11-29T12:00:00.500000000Z");
    expect(parseLogTime("2026-11-29T13:00:00.123456789+01:00", now)).toBe("2026-11-29T12:00:00.123456789Z");
    expect(parseLogTime("2026-11-29T12:00:00-02:30", now)).toBe("2026-11-29T14:30:00.000000000Z");
    expect(parseLogTime("2026-11-29", now)).toBe("2026-11-29T00:00:00.000000000Z");
    for (const bad of ["yesterday", "10", "10x", "2026-13-01T00:00:00Z", "2026-02-30", "2026-11-29T24:00:00Z", "-5m"]) expect(parseLogTime(bad, now), bad).toBe(bad === "10" ? "1970-01-01T00:00:10.000000000Z" : undefined);
  });

  test("humanized durations read like docker ps", () => {
    expect([0, 1000, 5000, 60_000, 600_000, 3_600_000, 7_200_000, 3 * 86_400_000].map(humanDuration)).toEqual(["Less than a second", "1 second", "5 seconds", "About a minute", "10 minutes", "About an hour", "2 hours", "3 days"]);
  });
});

describe("reading the log", () => {
  const line = (i: number) => `${formatTimestamp(1_795_953_600_000_000_000n + BigInt(i) * 1_000_000n)} entry ü${"x".repeat(i % 7)} seq=${i}`;
  const rotated = join(dir, "agent.log.1");
  const current = join(dir, "agent.log");
  // Enough lines that a tail has to read several 64 KiB chunks backwards and cross into the rotated file.
  writeFileSync(rotated, Array.from({ length: 3000 }, (_, i) => `${line(i)}\n`).join(""));
  writeFileSync(current, Array.from({ length: 2000 }, (_, i) => `${line(3000 + i)}\n`).join(""));
  const seqs = (entries: { line: string }[]) => entries.map((e) => Number(/seq=(\d+)/.exec(e.line)?.[1]));

  test("tail reads backwards across chunks and the rotated file without splitting characters", async () => {
    const last = await readLog([rotated, current], { tail: 2500 });
    expect(seqs(last)).toEqual(Array.from({ length: 2500 }, (_, i) => 2500 + i));
    expect(last.every((e) => e.line.includes("ü"))).toBe(true);
    expect(seqs(await readLog([rotated, current], { tail: 3 }))).toEqual([4997, 4998, 4999]);
    expect(await readLog([rotated, current], { tail: 0 })).toEqual([]);
    expect(await readLog([join(dir, "missing"), current], { tail: 1 })).toHaveLength(1);
  });

  test("since is inclusive, until exclusive, and tail applies after them", async () => {
    const since = formatTimestamp(1_795_953_600_000_000_000n + 4990n * 1_000_000n);
    const until = formatTimestamp(1_795_953_600_000_000_000n + 4995n * 1_000_000n);
    expect(seqs(await readLog([rotated, current], { since, until }))).toEqual([4990, 4991, 4992, 4993, 4994]);
    expect(seqs(await readLog([rotated, current], { since, tail: 2 }))).toEqual([4998, 4999]);
  });
});
