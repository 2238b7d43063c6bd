import { afterEach, describe, expect, it } from "vitest";
import { Config } from "../../src/lib/config.js";
import { UsageError } from "../../src/lib/errors.js";
import { ProviderRegistry } from "../../src/providers/index.js";
import { makeHome, type Sandbox } from "../helpers/cli.js";

const homes: Sandbox[] = [];
afterEach(() => {
  for (const h of homes.splice(0)) h.cleanup();
});

async function registry(env: Record<string, string> = {}): Promise<ProviderRegistry> {
  const h = makeHome(env);
  homes.push(h);
  return new ProviderRegistry(await Config.open({ env: h.env }), { env: h.env });
}

describe("ProviderRegistry", () => {
  it("resolves ids and aliases, and lists valid ones for an unknown name", async () => {
    const r = await registry();
    expect(r.resolve("do").id).toBe("digitalocean");
    expect(r.resolve("Hetzner").id).toBe("hetzner");
    const err = (() => {
      try {
        r.resolve("flyio");
      } catch (e) {
        return e as UsageError;
      }
      return undefined;
    })();
    expect(err).toBeInstanceOf(UsageError);
    expect(err!.hint).toBe("did you mean fly? valid providers: hetzner, fly, digitalocean, do, koyeb, cloudflare-sandbox, cf-sandbox");
  });

  it("knows which providers have a token, and builds each provider once, lazily", async () => {
    const r = await registry({ FLY_API_TOKEN: "fly-token-123456" });
    expect(r.configured().map((p) => p.id)).toEqual(["fly"]);
    const a = await r.get("fly");
    expect(await r.get("fly")).toBe(a);
    expect(a.id).toBe("fly");
    expect(a.capabilities.secrets).toBeUndefined();
    const hetzner = await r.get("hetzner");
    expect(hetzner.capabilities.secrets).toBeUndefined();
    expect((await r.get("do")).title).toBe("DigitalOcean");
    await r.close();
  });

  it("reports a missing token through checkCredentials instead of throwing", async () => {
    const r = await registry();
    const check = await (await r.get("hetzner")).checkCredentials();
    expect(check).toEqual({ ok: false, reason: "no Hetzner Cloud API token" });
    await r.close();
  });
});
