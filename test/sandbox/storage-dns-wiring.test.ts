import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { CloudflareDns } from "../../src/dns/cloudflare.js";
import { routeUser } from "../../src/dns/route.js";
import { Config } from "../../src/lib/config.js";
import { StorageClient } from "../../src/lib/s3-objects.js";
import { presignUrl, storageSettingsFromConfig } from "../../src/lib/s3-presign.js";
import { startSandbox } from "../../src/sandbox/index.js";

const dir = mkdtempSync(join(tmpdir(), "automna-sbx-wiring-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe("startSandbox serves object storage and Cloudflare DNS", () => {
  it("env() points automna at both; the bucket exists; credentials, objects and records survive a restart", async () => {
    const first = await startSandbox({ dir, actionDelayMs: 20 });
    const env = first.env();
    expect(env).toMatchObject({
      AUTOMNA_STORAGE_ENDPOINT: first.urls.s3, AUTOMNA_STORAGE_BUCKET: "automna", AUTOMNA_CLOUDFLARE_URL: first.urls.cloudflare,
      AUTOMNA_CLOUDFLARE_ZONE_ID: first.cloudflare.zoneId, AUTOMNA_DNS_TEMPLATE: "{user}.agents.example.test",
    });
    expect(first.urls.s3).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    expect(first.urls.cloudflare).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/client\/v4$/);
    const config = await Config.open({ path: join(dir, "none.json"), env });
    const settings = storageSettingsFromConfig(config);
    // A presigned PUT as a host's curl would send it lands in the pre-created bucket.
    const put = await fetch(presignUrl({ ...settings, method: "PUT", key: "probe/a.bin", expiresInSeconds: 60 }), { method: "PUT", body: Buffer.alloc(1234, 7) });
    expect(put.status).toBe(200);
    const dns = CloudflareDns.fromConfig(config);
    const record = await routeUser(dns, { user: "alice", template: config.getString("dns.template")!, target: { address: "127.77.0.9" } });
    expect(record).toMatchObject({ name: "alice.agents.example.test", type: "A", content: "127.77.0.9" });
    await dns.close();
    await first.close();

    const second = await startSandbox({ dir, actionDelayMs: 20 });
    try {
      expect(second.env()).toMatchObject({ AUTOMNA_STORAGE_ACCESS_KEY_ID: env.AUTOMNA_STORAGE_ACCESS_KEY_ID, AUTOMNA_CLOUDFLARE_ZONE_ID: env.AUTOMNA_CLOUDFLARE_ZONE_ID, CLOUDFLARE_API_TOKEN: env.CLOUDFLARE_API_TOKEN });
      const again = storageSettingsFromConfig(await Config.open({ path: join(dir, "none.json"), env: second.env() }));
      const client = new StorageClient(again);
      expect((await client.headObject("probe/a.bin"))?.size).toBe(1234);
      await client.close();
      expect(second.cloudflare.records().map((r) => [r.name, r.content])).toEqual([["alice.agents.example.test", "127.77.0.9"]]);
    } finally {
      await second.close();
    }
  });
});
