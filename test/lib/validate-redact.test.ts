import { inspect } from "node:util";
import { describe, expect, it } from "vitest";
import { redact, Secret } from "../../src/lib/redact.js";
import { parseDuration, parseSince, validateUser, validateUsers } from "../../src/lib/validate.js";

describe("user ids", () => {
  it("accepts the documented form and names the rule otherwise", () => {
    expect(validateUser("alice-01")).toBe("alice-01");
    expect(() => validateUser("Alice")).toThrow(`invalid user id "Alice": user ids are 1-41 characters of a-z, 0-9 and '-', starting and ending with a letter or digit`);
    expect(() => validateUser("-x")).toThrow(/invalid user id/);
    expect(() => validateUser("a".repeat(42))).toThrow(/invalid user id/);
    for (const ok of ["a", "7", "a-b", "a".repeat(41), `a${"-".repeat(39)}b`]) expect(validateUser(ok)).toBe(ok);
    // Not a valid hostname label or Fly app name (automna-<user>).
    for (const bad of ["a-", "alice--", `${"a".repeat(40)}-`]) expect(() => validateUser(bad)).toThrow(/invalid user id/);
    expect(() => validateUsers(["a", "b", "a"])).toThrow('user "a" is given twice');
  });
});

describe("durations", () => {
  it("parses compound durations and since-times", () => {
    expect(parseDuration("--keep-source", "1h30m")).toBe(5_400_000);
    expect(parseDuration("--keep-source", "72h")).toBe(259_200_000);
    expect(() => parseDuration("--keep-source", "3 days")).toThrow("--keep-source must be a duration like 90s, 10m, 2h or 3d");
    const now = new Date("2026-11-29T12:00:00Z");
    expect(parseSince("--since", "10m", now).toISOString()).toBe("2026-11-29T11:50:00.000Z");
    expect(parseSince("--since", "2026-11-29T10:00:00Z", now).toISOString()).toBe("2026-11-29T10:00:00.000Z");
    expect(() => parseSince("--since", "yesterday", now)).toThrow(/--since must be a duration/);
  });
});

describe("secrets", () => {
  it("never print, whatever prints them", () => {
    const s = new Secret("hcloud-token-0123456789");
    expect(String(s)).toBe("***");
    expect(`${s}`).toBe("***");
    expect(JSON.stringify({ token: s })).toBe('{"token":"***"}');
    expect(inspect({ token: s })).not.toContain("0123456789");
    expect(s.reveal()).toBe("hcloud-token-0123456789");
    expect(redact("GET /v1/servers failed: token hcloud-token-0123456789 rejected")).toBe("GET /v1/servers failed: token *** rejected");
    expect(redact('{"authorization":"Bearer abc.def.ghi"}')).toBe('{"authorization":"Bearer ***"}');
  });
});
