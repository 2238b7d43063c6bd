import { afterEach, describe, expect, it } from "vitest";
import { CloudflareDns } from "../../src/dns/cloudflare.js";
import { dnsNameForUser, recordForTarget, routeUser, userTag } from "../../src/dns/route.js";
import { Config } from "../../src/lib/config.js";
import { ConfigError, UsageError } from "../../src/lib/errors.js";
import { StorageClient } from "../../src/lib/s3-objects.js";
import { storageSettingsFromConfig } from "../../src/lib/s3-presign.js";
import { startCloudflareSandbox } from "../../src/sandbox/cloudflare.js";
import { startS3Sandbox } from "../../src/sandbox/s3.js";
import { makeHome, type Sandbox } from "../helpers/cli.js";

let home: Sandbox | undefined;
afterEach(() => home?.cleanup());

async function config(env: Record<string, string>): Promise<Config> {
  home = makeHome(env);
  return Config.open({ env: home.env });
}

describe("DNS names and record types", () => {
  it("fills the template and validates the result", () => {
    expect(dnsNameForUser("{user}.agents.example.com", "alice")).toBe("alice.agents.example.com");
    expect(dnsNameForUser("agent-{user}.Example.COM.", "bob-2")).toBe("agent-bob-2.example.com");
    expect(() => dnsNameForUser("agents.example.com", "alice")).toThrow(ConfigError);
    expect(() => dnsNameForUser("{user}", "alice")).toThrow(/not a valid DNS name/);
    expect(() => dnsNameForUser("{user}.example.com", "Not_Valid")).toThrow(UsageError);
  });

  it("picks A for IPv4, AAAA for IPv6 and CNAME for a hostname", () => {
    expect(recordForTarget({ address: "203.0.113.7" })).toEqual({ type: "A", content: "203.0.113.7" });
    expect(recordForTarget({ address: "2001:DB8::1" })).toEqual({ type: "AAAA", content: "2001:db8::1" });
    expect(recordForTarget({ hostname: "Automna-Alice.fly.example." })).toEqual({ type: "CNAME", content: "automna-alice.fly.example" });
    expect(recordForTarget({ hostname: "198.51.100.4" })).toEqual({ type: "A", content: "198.51.100.4" });
    expect(() => recordForTarget({ address: "alice.example.com" })).toThrow(UsageError);
    expect(userTag("alice")).toBe("automna-user:alice");
  });
});

describe("settings from config and environment", () => {
  it("builds a Cloudflare client from CLOUDFLARE_API_TOKEN and the zone id, naming what is missing", async () => {
    const missing = await config({});
    expect(() => CloudflareDns.fromConfig(missing)).toThrow("Cloudflare DNS is not configured: missing cloudflare.token (CLOUDFLARE_API_TOKEN), cloudflare.zoneId (AUTOMNA_CLOUDFLARE_ZONE_ID)");
    home!.cleanup();
    const ok = await config({ CLOUDFLARE_API_TOKEN: "tok-0123456789", AUTOMNA_CLOUDFLARE_ZONE_ID: "a".repeat(32), AUTOMNA_CLOUDFLARE_URL: "http://127.0.0.1:9/client/v4", AUTOMNA_DNS_TEMPLATE: "{user}.agents.example.test" });
    const dns = CloudflareDns.fromConfig(ok);
    expect(dns.zoneId).toBe("a".repeat(32));
    expect(ok.getString("dns.template")).toBe("{user}.agents.example.test");
    await dns.close();
    home!.cleanup();
    const badZone = await config({ CLOUDFLARE_API_TOKEN: "tok-0123456789", AUTOMNA_CLOUDFLARE_ZONE_ID: "agents.example.test" });
    expect(() => CloudflareDns.fromConfig(badZone)).toThrow(/is not a Cloudflare zone id/);
  });

  it("reads storage settings from AUTOMNA_STORAGE_* and names every missing one", async () => {
    const partial = await config({ AUTOMNA_STORAGE_ENDPOINT: "http://127.0.0.1:9000", AUTOMNA_STORAGE_SECRET_ACCESS_KEY: "secret-value-42" });
    expect(() => storageSettingsFromConfig(partial)).toThrow(
      "object storage is not configured: missing storage.bucket (AUTOMNA_STORAGE_BUCKET), storage.accessKeyId (AUTOMNA_STORAGE_ACCESS_KEY_ID)",
    );
    home!.cleanup();
    const full = await config({
      AUTOMNA_STORAGE_ENDPOINT: "http://127.0.0.1:9000",
      AUTOMNA_STORAGE_BUCKET: "automna",
      AUTOMNA_STORAGE_ACCESS_KEY_ID: "AKTEST123",
      AUTOMNA_STORAGE_SECRET_ACCESS_KEY: "secret-value-42",
    });
    const settings = storageSettingsFromConfig(full);
    expect(settings).toMatchObject({ endpoint: "http://127.0.0.1:9000", bucket: "automna", region: "auto" });
    expect(settings.secretAccessKey.reveal()).toBe("secret-value-42");
    expect(JSON.stringify(settings)).not.toContain("secret-value-42");
  });
});

describe("wiring from the stand-ins' env", () => {
  it("configures storage and DNS from the handles' environment and works end to end", async () => {
    const s3 = await startS3Sandbox();
    const cf = await startCloudflareSandbox();
    try {
      const cfg = await config({ ...s3.env, ...cf.env });
      const storage = new StorageClient(storageSettingsFromConfig(cfg));
      expect(await storage.listObjects()).toEqual([]);
      await storage.close();
      const dns = CloudflareDns.fromConfig(cfg);
      const rec = await routeUser(dns, { user: "alice", template: cfg.getString("dns.template")!, target: { hostname: "automna-alice.fly.example" } });
      expect(rec).toMatchObject({ name: "alice.agents.example.test", type: "CNAME", content: "automna-alice.fly.example" });
      await dns.close();
      expect(Object.keys(s3.config).sort()).toEqual(["storage.accessKeyId", "storage.bucket", "storage.endpoint", "storage.region", "storage.secretAccessKey"]);
      expect(cf.config["dns.template"]).toBe("{user}.agents.example.test");
    } finally {
      await s3.close();
      await cf.close();
    }
  });
});
