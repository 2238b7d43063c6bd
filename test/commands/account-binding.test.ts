/**
 * DigitalOcean instances are bound to the account their token belonged to (`meta.api.account`,
 * the uuid of `GET /v2/account`). The sandbox's DigitalOcean stand-in accepts a second token for
 * a second account, which sees only its own droplets; through it automna refuses (exit 2, naming
 * both accounts) to act on an instance the first account made, and sends nothing but the account
 * lookup.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { sandboxCredentials } from "../../src/sandbox/credentials.js";
import { makeHome, runCli } from "../helpers/cli.js";
import { startFleetSandbox, type FleetSandbox } from "../helpers/fleet-sandbox.js";

const FIRST_ACCOUNT = "5a4dbe8b0c6a4d0f9a0e6b7c2d1e3f4a5b6c7d8e";
const SECOND_ACCOUNT = "9c8b7a6f5e4d3c2b1a0f9e8d7c6b5a4f3e2d1c0b";

let fs: FleetSandbox;
let second: string;
const home = makeHome();
const run = (args: string[], extra: Record<string, string> = {}) => runCli(args, { env: fs.env(home, extra) });
/** The stand-in's API with a given token. */
const call = async (token: string, path: string, method = "GET") => {
  const res = await fetch(`${fs.sandbox.urls.digitalocean}${path}`, { method, headers: { authorization: `Bearer ${token}` } });
  const text = await res.text();
  return { status: res.status, body: (text ? JSON.parse(text) : null) as Record<string, unknown> };
};

beforeAll(async () => {
  fs = await startFleetSandbox();
  second = sandboxCredentials(fs.sandbox.token).digitaloceanSecondAccountToken;
  const made = await run(["provision", "dora", "--provider", "digitalocean", "--region", "fra1", "--size", "s-1vcpu-2gb", "--json"]);
  if (made.code !== 0) throw new Error(made.stderr);
});
afterAll(async () => {
  home.cleanup();
  await fs?.close();
});

describe("the DigitalOcean stand-in's second account", () => {
  it("names its own account and sees none of the first account's droplets (404, as if absent)", async () => {
    const droplet = (await run(["status", "dora", "--json"])).json<{ instance: { resources: { droplet: string }; meta?: unknown } }>().instance.resources.droplet;
    expect(((await call(fs.sandbox.token, "/v2/account")).body.account as { uuid: string }).uuid).toBe(FIRST_ACCOUNT);
    expect(((await call(second, "/v2/account")).body.account as { uuid: string }).uuid).toBe(SECOND_ACCOUNT);
    expect((await call(fs.sandbox.token, `/v2/droplets/${droplet}`)).status).toBe(200);
    expect((await call(second, `/v2/droplets/${droplet}`)).status).toBe(404);
    expect((await call(second, "/v2/droplets?tag_name=automna")).body.droplets).toEqual([]);
    expect((await call(`${second}x`, "/v2/account")).status).toBe(401);
  });
});

describe("an instance bound to one DigitalOcean account", () => {
  it("is refused through a token of another account: exit 2 naming both, nothing sent but the account lookup", async () => {
    const from = fs.sandbox.requests().length;
    const other = { DIGITALOCEAN_ACCESS_TOKEN: second };
    const why = `dora's DigitalOcean instance was made through DigitalOcean account ${FIRST_ACCOUNT}; profile default reaches account ${SECOND_ACCOUNT}: refusing to act on it there`;
    for (const args of [["destroy", "dora", "--yes"], ["exec", "dora", "--", "true"]]) {
      const refused = await run(args, other);
      expect([args[0], refused.code, refused.stderr], refused.stderr).toEqual([args[0], 2, expect.stringContaining(why)]);
    }
    // status is a view of state: it shows the row and says why the provider was not asked.
    const view = await run(["status", "dora"], other);
    expect([view.code, view.stdout]).toEqual([0, expect.stringContaining(`not checked live: ${why}`)]);
    expect(fs.requestsSince(from, "digitalocean").map((r) => `${r.method} ${r.path}`)).toEqual(["GET /v2/account", "GET /v2/account", "GET /v2/account"]);
    // Through its own account it is still there and answers.
    const status = await run(["status", "dora", "--json"]);
    expect(status.json<{ live: { status: string } }>().live.status).toBe("running");
  });
});
