import { describe, expect, it } from "vitest";
import { LineSplitter } from "../../src/access/lines.js";
import { DockerTextStream } from "../../src/access/raw-lines.js";
import { mergeByTime, normalizeTime, parseDockerLine, ResumePoint, type LogLine } from "../../src/access/log-lines.js";
import { logQuery } from "../../src/access/logs.js";

describe("log times", () => {
  it("normalises RFC 3339 times of any precision and zone to fixed-width UTC nanoseconds", () => {
    expect(normalizeTime("2026-11-29T12:00:00.123456789Z")).toBe("2026-11-29T12:00:00.123456789Z");
    expect(normalizeTime("2026-11-29T12:00:00.123Z")).toBe("2026-11-29T12:00:00.123000000Z");
    expect(normalizeTime("2026-11-29T12:00:00Z")).toBe("2026-11-29T12:00:00.000000000Z");
    expect(normalizeTime("2026-11-29T13:30:00.5+01:30")).toBe("2026-11-29T12:00:00.500000000Z");
    expect(normalizeTime("2026-11-29T10:00:00-0200")).toBe("2026-11-29T12:00:00.000000000Z");
    expect(normalizeTime("yesterday")).toBe("yesterday");
  });

  it("parses docker logs --timestamps lines and rejects lines without a time", () => {
    expect(parseDockerLine("2026-11-29T12:00:00.000000001Z hello world")).toEqual({ time: "2026-11-29T12:00:00.000000001Z", line: "hello world" });
    expect(parseDockerLine("2026-11-29T12:00:00.5Z x")).toEqual({ time: "2026-11-29T12:00:00.500000000Z", line: "x" });
    expect(parseDockerLine("Error response from daemon: No such container: automna-agent")).toBeUndefined();
    expect(parseDockerLine("")).toBeUndefined();
  });

  it("--since: durations stay relative for docker (the host's clock), ISO times absolute", () => {
    const now = new Date("2026-11-29T12:00:00.000Z");
    expect(logQuery("10m", 5, now)).toEqual({ since: { docker: "600s", at: "2026-11-29T11:50:00.000000000Z" }, tail: 5 });
    expect(logQuery("2026-11-29T10:00:00+01:00", undefined, now)).toEqual({ since: { docker: "2026-11-29T09:00:00.000000000Z", at: "2026-11-29T09:00:00.000000000Z" }, tail: undefined });
    // A line's own timestamp as --since keeps its nanoseconds (a Date would cut them to ms and let
    // an earlier line of the same millisecond in); a date alone still works.
    expect(logQuery("2026-11-29T10:00:00.123456789Z", undefined, now).since).toEqual({ docker: "2026-11-29T10:00:00.123456789Z", at: "2026-11-29T10:00:00.123456789Z" });
    expect(logQuery("2026-11-29", undefined, now).since!.at).toBe("2026-11-29T00:00:00.000000000Z");
    expect(logQuery(undefined, 3, now)).toEqual({ tail: 3 });
    expect(() => logQuery("soon", undefined, now)).toThrow(/--since must be/);
  });
});

describe("ResumePoint", () => {
  it("after a reconnect drops replays at and before the newest time, counting repeated lines", () => {
    const r = new ResumePoint();
    const t = (n: number) => `2026-11-29T12:00:00.00000000${n}Z`;
    expect([r.accept(t(1), "a"), r.accept(t(2), "b"), r.accept(t(2), "x"), r.accept(t(2), "x")]).toEqual([true, true, true, true]);
    expect(r.since).toBe(t(2));
    r.reconnect();
    // docker --since is inclusive: t(2)'s lines come again, then new ones.
    expect([r.accept(t(2), "b"), r.accept(t(2), "x"), r.accept(t(2), "x"), r.accept(t(2), "x"), r.accept(t(1), "late"), r.accept(t(3), "c")]).toEqual([false, false, false, true, false, true]);
    // Before any reconnect nothing is filtered (stdout and stderr arrive out of order).
    const fresh = new ResumePoint();
    expect([fresh.accept(t(3), "c"), fresh.accept(t(1), "a")]).toEqual([true, true]);
  });

  it("merges users' lines by time, ties in the order users were given", () => {
    const l = (user: string, time: string): LogLine => ({ user, provider: "hetzner", time, line: user });
    const merged = mergeByTime([[l("a", "2"), l("a", "4")], [l("b", "1"), l("b", "2"), l("b", "5")]]);
    expect(merged.map((x) => `${x.user}${x.time}`)).toEqual(["b1", "a2", "b2", "a4", "b5"]);
  });

  it("splits lines across chunks, including a UTF-8 character cut in two", () => {
    const s = new LineSplitter();
    const bytes = Buffer.from("héllo\nwor");
    expect(s.push(bytes.subarray(0, 2))).toEqual([]);
    expect(s.push(bytes.subarray(2))).toEqual(["héllo"]);
    expect(s.push(Buffer.from("ld\n\nlast"))).toEqual(["world", ""]);
    expect(s.end()).toEqual(["last"]);
  });
});

describe("DockerTextStream (one user's lines as bytes)", () => {
  const t = (n: number) => `2026-11-29T12:00:00.${String(n).padStart(9, "0")}Z`;
  const docker = (lines: [number, string][]) => Buffer.from(lines.map(([n, l]) => `${t(n)} ${l}\n`).join(""));

  it("strips the times across chunk boundaries, passes docker's own messages aside, records where to resume", () => {
    const r = new ResumePoint();
    const other: string[] = [];
    const s = new DockerTextStream(r, (l) => other.push(l));
    const all = Buffer.concat([docker([[1, "a"], [2, "b"]]), Buffer.from("Error: something\n"), docker([[3, "ç"], [3, "d"]])]);
    const out: Buffer[] = [];
    let lines = 0;
    for (let i = 0; i < all.length; i += 7) {
      const res = s.push(all.subarray(i, i + 7));
      out.push(res.bytes);
      lines += res.lines;
    }
    const last = s.end();
    expect(Buffer.concat([...out, last.bytes]).toString()).toBe("a\nb\nç\nd\n");
    expect(lines + last.lines).toBe(4);
    expect(other).toEqual(["Error: something"]);
    expect(r.since).toBe(t(3));
    // After a reconnect the lines at the newest time (both of them) are replays; newer ones are not.
    r.reconnect();
    const again = s.push(docker([[3, "ç"], [3, "d"], [3, "e"], [4, "f"]]));
    expect(again.bytes.toString()).toBe("e\nf\n");
    expect(again.lines).toBe(2);
    r.reconnect();
    expect(s.push(docker([[4, "f"], [5, "g"]])).bytes.toString()).toBe("g\n");
  });
});
