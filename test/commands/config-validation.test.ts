/**
 * Settings are checked when they are given, not when something uses them (#17 item 7): config
 * set by type and range, regions and sizes against the provider's catalog (config set and init),
 * a config file that is not an object or holds unknown keys, an unknown --profile.
 */
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { dirname } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { makeHome, runCli, type Sandbox } from "../helpers/cli.js";

let home: Sandbox;
afterEach(() => home?.cleanup());
const run = (args: string[]) => runCli(args, { env: home.env });
const firstLine = (r: { stderr: string }): string => r.stderr.split("\n")[0]!;

describe("config set checks each value by type and range (exit 2, naming what is valid)", () => {
  it.each([
    [["health.interval", "xyz"], 'Error: value for health.interval: "xyz" is not a duration'],
    [["pricing.eurUsd", "-5"], 'Error: value for pricing.eurUsd: "-5" is not a number from 0.01 to 100'],
    [["ssh.port", "70000"], 'Error: value for ssh.port: "70000" is not a whole number from 1 to 65535'],
    [["health.checks", "2.5"], 'Error: value for health.checks: "2.5" is not a whole number from 1 to 100'],
    [["hetzner.url", "ftp://x"], 'Error: value for hetzner.url: "ftp://x" is not an http:// or https:// URL'],
    [["provider", "aws"], 'Error: value for provider: "aws" is not one of hetzner, fly, digitalocean, do, koyeb, cloudflare-sandbox, cf-sandbox'],
  ])("config set %j", async (args, message) => {
    home = makeHome();
    const r = await run(["config", "set", ...args]);
    expect([r.code, firstLine(r)]).toEqual([2, message]);
  });

  it("a region or size the provider's catalog does not list is refused, naming the valid ones; nothing is written", async () => {
    home = makeHome();
    expect((await run(["config", "set", "provider", "hetzner"])).code).toBe(0);
    const region = await run(["config", "set", "region", "mars"]);
    expect([region.code, firstLine(region)]).toEqual([2, 'Error: Hetzner Cloud has no region "mars"']);
    expect(region.stderr).toMatch(/Hint: regions: .*fsn1.*nbg1/);
    const size = await run(["config", "set", "size", "cx2"]);
    expect([size.code, firstLine(size)]).toEqual([2, 'Error: Hetzner Cloud has no size "cx2" (did you mean cx22?)']);
    expect((await run(["config", "set", "region", "nbg1"])).code).toBe(0);
    const file = JSON.parse(readFileSync(home.configPath, "utf8")) as { profiles: { default: Record<string, unknown> } };
    expect(file.profiles.default).toEqual({ provider: "hetzner", region: "nbg1" });
  });
});

describe("init checks regions and sizes against the catalog", () => {
  it("with --no-input, region xyz and size huge-size are bad input (exit 2) and nothing is written", async () => {
    home = makeHome();
    const region = await run(["--no-input", "init", "--provider", "hetzner", "--region", "xyz", "--size", "cx22", "--image", "a:1"]);
    expect([region.code, firstLine(region)]).toEqual([2, 'Error: Hetzner Cloud has no region "xyz"']);
    const size = await run(["--no-input", "init", "--provider", "fly", "--region", "ams", "--size", "huge-size", "--image", "a:1"]);
    expect([size.code, firstLine(size)]).toEqual([2, 'Error: Fly.io has no size "huge-size"']);
    expect(() => readFileSync(home.configPath, "utf8")).toThrow();
  });
});

describe("the config file", () => {
  it("that holds [1,2] is an error naming the file (exit 2), not an empty configuration", async () => {
    home = makeHome();
    mkdirSync(dirname(home.configPath), { recursive: true });
    writeFileSync(home.configPath, "[1,2]\n");
    const r = await run(["config", "list"]);
    expect([r.code, firstLine(r)]).toEqual([2, `Error: config file ${home.configPath} is not a JSON object (it holds an array)`]);
  });

  it("with unknown keys: a warning names the file and each key, and the command goes on", async () => {
    home = makeHome();
    mkdirSync(dirname(home.configPath), { recursive: true });
    writeFileSync(home.configPath, JSON.stringify({ profiles: { default: { regoin: "fsn1", ssh: { prot: 22, port: 2222 } } } }));
    const r = await run(["config", "get", "ssh.port"]);
    expect([r.code, r.stdout]).toEqual([0, "2222\n"]);
    expect(r.stderr).toContain(`Warning: ${home.configPath}: unknown key "regoin" in profile default is ignored (did you mean region?)`);
    expect(r.stderr).toContain(`Warning: ${home.configPath}: unknown key "ssh.prot" in profile default is ignored (did you mean ssh.port?)`);
  });
});

describe("--profile", () => {
  it("an unknown profile is an error listing the profiles (exit 2); config set does not create it", async () => {
    home = makeHome();
    expect((await run(["--profile", "sandbox", "config", "profile", "create"])).code).toBe(0);
    const typo = await run(["--profile", "sandbx", "config", "set", "region", "fsn1"]);
    expect([typo.code, firstLine(typo)]).toEqual([2, 'Error: unknown profile "sandbx" (did you mean sandbox?)']);
    expect(typo.stderr).toContain(`Hint: profiles in ${home.configPath}: sandbox; create one with automna --profile sandbx init`);
    const file = JSON.parse(readFileSync(home.configPath, "utf8")) as { profiles: Record<string, unknown> };
    expect(Object.keys(file.profiles)).toEqual(["sandbox"]);
    const env = await runCli(["list"], { env: { ...home.env, AUTOMNA_PROFILE: "nope" } });
    expect([env.code, firstLine(env)]).toEqual([2, 'Error: unknown profile "nope"']);
    // The default profile always exists; init creates the one it is given.
    expect((await run(["config", "list"])).code).toBe(0);
    const made = await run(["--profile", "staging", "--no-input", "init", "--provider", "hetzner", "--image", "a:1"]);
    expect(made.code, made.stderr).toBe(0);
    expect((await run(["--profile", "staging", "config", "get", "provider"])).stdout).toBe("hetzner\n");
  });
});
