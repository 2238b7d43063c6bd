import { describe, expect, it } from "vitest";
import { manifestDifferences, parseManifest } from "../../src/migrate/manifest.js";
import { curlConfig, partsScript, warmArchiveScript, warmRestoreScript } from "../../src/migrate/scripts.js";
import { finalRestoreScript } from "../../src/migrate/verify-scripts.js";

const H = (c: string): string => c.repeat(64);

describe("manifests", () => {
  const want = parseManifest([
    "d - - ./blobs",
    `f 10 ${H("a")} ./blobs/a.bin`,
    `f 20 ${H("b")} ./blobs/b.bin`,
    "d - - ./new",
    `f 1 ${H("c")} ./new/x`,
    "d - - ./new/deeper",
    `l - ${H("d")} ./link`,
    `f 5 ${H("e")} ./name with spaces`,
    `f 7 ${H("f")} ./was-a-dir`,
  ].join("\n"));
  const have = parseManifest([
    "d - - ./blobs",
    `f 10 ${H("a")} ./blobs/a.bin`,
    `f 20 ${H("9")} ./blobs/b.bin`,
    `f 3 ${H("1")} ./blobs/gone.bin`,
    "d - - ./old",
    `f 1 ${H("2")} ./old/y`,
    `l - ${H("d")} ./link`,
    "d - - ./was-a-dir",
    `f 1 ${H("3")} ./was-a-dir/inner`,
  ].join("\n"));

  it("parses entries, counts files and bytes, and digests the text", () => {
    expect(want.files).toBe(5);
    expect(want.bytes).toBe(43);
    expect(want.entries.get("./name with spaces")).toEqual({ type: "f", path: "./name with spaces", size: 5, sha256: H("e") });
    expect(parseManifest(`f 10 ${H("a")} ./blobs/a.bin\n`).digest).not.toBe(parseManifest(`f 11 ${H("a")} ./blobs/a.bin\n`).digest);
    expect(() => parseManifest("f 10 nothex ./x")).toThrow(/unreadable manifest line/);
  });

  it("names the differences", () => {
    expect(manifestDifferences(want, have, 3)).toEqual([
      "./blobs/b.bin differs (sha256)",
      "./new missing",
      "./new/x missing",
    ]);
  });
});

describe("host scripts", () => {
  it("never put a presigned URL on a command line: it goes to curl through stdin", () => {
    const url = "http://127.0.0.1:9/automna/k?X-Amz-Signature=abc";
    expect(warmRestoreScript("op_abc123", { sha256: H("a"), bytes: 1, hold: true })).not.toContain("X-Amz");
    expect(curlConfig(url)).toBe(`url = "${url}"\n`);
    expect(() => curlConfig('http://x/"; rm -rf /')).toThrow();
    expect(() => curlConfig("http://x/$(reboot)")).toThrow();
  });

  it("refuse malformed ids, so nothing from state reaches a shell unquoted", () => {
    expect(() => warmArchiveScript("op_$(reboot)", 100)).toThrow();
    expect(() => partsScript("op_abc", "../x", 1048576)).toThrow();
    expect(() => partsScript("op_abc", "warm", 1000)).toThrow();
    expect(() => finalRestoreScript("op_abc", "not-a-sha", 1, false, H("a"))).toThrow();
    expect(() => finalRestoreScript("op_abc", H("a"), 1, false, "not-a-sha")).toThrow();
    expect(() => warmArchiveScript("op_abc", -1)).toThrow();
    expect(warmArchiveScript("op_abc", 100)).toContain('W="${HOME:-/root}/.automna/work/op_abc"');
  });
});
