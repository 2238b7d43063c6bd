import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { catalogProviders, findPlan, loadCatalog, resolveCatalogProvider, shippedCatalogPath } from "../../src/pricing/catalog.js";
import { cheapestPlan } from "../../src/pricing/compare.js";

const catalog = loadCatalog();
const rates = { eurUsd: 1.08 };
const dir = mkdtempSync(join(tmpdir(), "automna-catalog-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function writeJson(name: string, value: unknown): string {
  const path = join(dir, name);
  writeFileSync(path, JSON.stringify(value));
  return path;
}
const shipped = JSON.parse(readFileSync(shippedCatalogPath(), "utf8")) as { entries: Record<string, unknown>[] };

describe("the shipped price catalog", () => {
  it("covers every provider and plan of the hosting comparison", () => {
    expect(catalogProviders(catalog)).toEqual(["hetzner", "digitalocean", "fly", "koyeb", "render", "railway", "aws-fargate", "cloud-run", "cloudflare-sandbox"]);
    const plans = (p: string): string[] => catalog.entries.filter((e) => e.provider === p).map((e) => e.plan);
    expect(plans("hetzner")).toEqual(["cx22", "cx32", "cx42", "cpx11", "cpx21", "cax11"]);
    expect(plans("digitalocean")).toEqual(expect.arrayContaining(["s-1vcpu-512mb-10gb", "s-1vcpu-1gb", "s-1vcpu-2gb", "s-2vcpu-2gb"]));
    expect(plans("fly")).toEqual(expect.arrayContaining(["shared-cpu-1x-256mb", "shared-cpu-1x-1gb", "shared-cpu-1x-2gb", "shared-cpu-2x-2gb", "performance-1x-2gb"]));
    expect(plans("koyeb")).toEqual(expect.arrayContaining(["nano", "micro", "small"]));
    expect(plans("render")).toEqual(expect.arrayContaining(["starter", "standard", "pro"]));
    expect(plans("aws-fargate")).toEqual(expect.arrayContaining(["0.25vcpu-0.5gb", "0.5vcpu-1gb"]));
    expect(findPlan(catalog, "cloud-run", "1vcpu-1gib")).toMatchObject({ vcpu: 1, ramGb: 1, availability: "scales-to-zero" });
    expect(findPlan(catalog, "cloudflare-sandbox", "standard-1")).toMatchObject({ ramGb: 4, availability: "hibernates" });
    expect(findPlan(catalog, "hetzner", "CX22")).toMatchObject({ currency: "EUR", monthlyPrice: 3.79, vcpu: 2, ramGb: 4, diskGb: 40, billing: "monthly-cap" });
    expect(findPlan(catalog, "do", "s-1vcpu-2gb")).toMatchObject({ monthlyPrice: 12, currency: "USD" });
  });

  it("has a source, a date and self-consistent prices on every entry; estimates say so", () => {
    for (const e of catalog.entries) {
      expect(e.source, `${e.provider} ${e.plan}`).toMatch(/https:\/\/|comparison/);
      expect(e.asOf).toMatch(/^2026-\d{2}-\d{2}$/);
      // An always-on month is 620-745 hours of the hourly price (capped plans bill fewer hours).
      const hours = e.monthlyPrice / e.hourlyPrice;
      expect(hours, `${e.provider} ${e.plan}`).toBeGreaterThan(620);
      expect(hours, `${e.provider} ${e.plan}`).toBeLessThan(745);
    }
    const estimates = catalog.entries.filter((e) => /estimate/i.test(e.note ?? "")).map((e) => `${e.provider}/${e.plan}`);
    expect(estimates).toEqual(expect.arrayContaining(["fly/shared-cpu-2x-2gb", "railway/1vcpu-2gb", "cloudflare-sandbox/standard-1"]));
  });
});

describe("cheapest plan that meets a need", () => {
  const pick = (provider: string, ramGb: number, vcpu?: number): string | undefined => cheapestPlan(catalog.entries, provider, { ramGb, vcpu }, "USD", rates)?.plan;
  const expected: Record<string, (string | undefined)[]> = {
    // RAM:                0.5 GB                  1 GB                2 GB                  4 GB
    hetzner: ["cx22", "cx22", "cx22", "cx22"],
    digitalocean: ["s-1vcpu-512mb-10gb", "s-1vcpu-1gb", "s-1vcpu-2gb", "s-2vcpu-4gb"],
    fly: ["shared-cpu-1x-512mb", "shared-cpu-1x-1gb", "shared-cpu-1x-2gb", "shared-cpu-2x-4gb"],
    koyeb: ["micro", "small", "medium", "large"],
    render: ["starter", "standard", "standard", "pro"],
    railway: ["0.5vcpu-0.5gb", "1vcpu-1gb", "1vcpu-2gb", "2vcpu-4gb"],
    "aws-fargate": ["0.25vcpu-0.5gb", "0.25vcpu-1gb", "0.25vcpu-2gb", "0.5vcpu-4gb"],
    "cloud-run": ["1vcpu-0.5gib", "1vcpu-1gib", "1vcpu-2gib", "2vcpu-4gib"],
    "cloudflare-sandbox": ["basic", "basic", "standard-1", "standard-1"],
  };
  for (const [provider, plans] of Object.entries(expected)) {
    it(`${provider}: 0.5, 1, 2 and 4 GB`, () => {
      expect([0.5, 1, 2, 4].map((ram) => pick(provider, ram))).toEqual(plans);
    });
  }

  it("honours a vCPU need and reports none when nothing is big enough", () => {
    expect(pick("fly", 2, 2)).toBe("shared-cpu-2x-2gb");
    expect(pick("digitalocean", 2, 2)).toBe("s-2vcpu-2gb");
    expect(pick("aws-fargate", 1, 0.5)).toBe("0.5vcpu-1gb");
    expect(pick("fly", 8)).toBeUndefined();
    expect(pick("hetzner", 32)).toBeUndefined();
  });

  it("compares across currencies at the configured rate, not the listed number", () => {
    const entries = [
      { ...catalog.entries[0]!, provider: "x", plan: "eur", monthlyPrice: 10, currency: "EUR" as const },
      { ...catalog.entries[0]!, provider: "x", plan: "usd", monthlyPrice: 10.5, currency: "USD" as const },
    ];
    expect(cheapestPlan(entries, "x", { ramGb: 1 }, "USD", { eurUsd: 1.08 })?.plan).toBe("usd");
    expect(cheapestPlan(entries, "x", { ramGb: 1 }, "USD", { eurUsd: 1.0 })?.plan).toBe("eur");
  });
});

describe("loading and validating", () => {
  it("names the entry and field of a bad edit", () => {
    const bad = { schema: 1, asOf: "2026-11-29", entries: [{ ...shipped.entries[0], ramGb: -4 }] };
    expect(() => loadCatalog({ path: writeJson("bad.json", bad) })).toThrow(/entry 1 \(hetzner cx22\): ramGb must be a number of at least 0/);
    const dup = { schema: 1, asOf: "2026-11-29", entries: [shipped.entries[0], shipped.entries[0]] };
    expect(() => loadCatalog({ path: writeJson("dup.json", dup) })).toThrow(/hetzner\/cx22: listed twice/);
    const badCurrency = { schema: 1, asOf: "2026-11-29", entries: [{ ...shipped.entries[0], currency: "GBP" }] };
    expect(() => loadCatalog({ path: writeJson("cur.json", badCurrency) })).toThrow(/currency must be one of USD, EUR/);
    writeFileSync(join(dir, "broken.json"), "{not json");
    expect(() => loadCatalog({ path: join(dir, "broken.json") })).toThrow(/price catalog .*broken.json is invalid/);
  });

  it("lays refreshed live prices over the shipped catalog, per provider, in place", () => {
    const live = {
      schema: 1,
      providers: {
        hetzner: { fetchedAt: "2026-11-29T10:00:00Z", entries: [{ ...shipped.entries[0], plan: "cx23", monthlyPrice: 4.11, hourlyPrice: 0.0066, asOf: "2026-11-29" }] },
      },
    };
    const merged = loadCatalog({ overlayPath: writeJson("prices.json", live) });
    expect(merged.entries.filter((e) => e.provider === "hetzner").map((e) => [e.plan, e.monthlyPrice, e.live])).toEqual([["cx23", 4.11, true]]);
    expect(catalogProviders(merged)[0]).toBe("hetzner");
    expect(merged.entries.filter((e) => e.provider === "fly")).toHaveLength(catalog.entries.filter((e) => e.provider === "fly").length);
    expect(merged.sources).toHaveLength(2);
    expect(loadCatalog({ overlayPath: join(dir, "absent.json") }).entries).toHaveLength(catalog.entries.length);
  });

  it("resolves provider aliases and suggests on a typo", () => {
    expect(resolveCatalogProvider(catalog, "do")).toBe("digitalocean");
    expect(resolveCatalogProvider(catalog, "Fargate")).toBe("aws-fargate");
    expect(() => resolveCatalogProvider(catalog, "hetzer")).toThrow(/unknown provider "hetzer"/);
  });
});
