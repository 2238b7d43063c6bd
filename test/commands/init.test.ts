import { readFileSync, writeFileSync, mkdirSync } from "node:fs";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { makeHome, runCli, type Sandbox } from "../helpers/cli.js";

let home: Sandbox;
afterEach(() => home?.cleanup());

describe("automna init", () => {
  it("runs from flags alone with --no-input, as in CI", async () => {
    home = makeHome();
    const key = join(home.dir, "id_ed25519.pub");
    writeFileSync(key, "ssh-ed25519 AAAA test\n");
    const r = await runCli(["--no-input", "--json", "init", "--provider", "do", "--region", "fra1", "--size", "s-1vcpu-2gb", "--image", "agent:1", "--ssh-public-key", key], { env: home.env });
    expect(r.code).toBe(0);
    expect(r.json()).toEqual({
      profile: "default",
      path: home.configPath,
      settings: {
        provider: "digitalocean", region: "fra1", size: "s-1vcpu-2gb", image: "agent:1",
        "ssh.publicKey": key, "ssh.identityFile": key.replace(/\.pub$/, ""), "state.path": home.statePath,
      },
      missingToken: "DIGITALOCEAN_ACCESS_TOKEN",
    });
    const file = JSON.parse(readFileSync(home.configPath, "utf8"));
    expect(file.profiles.default.provider).toBe("digitalocean");
  });

  it("takes the defaults for unanswered questions when nobody can type", async () => {
    home = makeHome();
    const r = await runCli(["--json", "init", "--provider", "hetzner"], { env: home.env });
    expect(r.code).toBe(0);
    expect(r.prompts).toEqual([]);
    expect(r.json<{ settings: Record<string, string> }>().settings).toMatchObject({ provider: "hetzner", region: "fsn1", size: "cx22" });
  });

  it("asks each question on a terminal and stores a masked token", async () => {
    home = makeHome();
    mkdirSync(join(home.dir, ".ssh"));
    const key = join(home.dir, ".ssh", "id_ed25519.pub");
    writeFileSync(key, "ssh-ed25519 AAAA test\n");
    const r = await runCli(["init"], {
      env: home.env,
      tty: true,
      answers: {
        "Default provider": "fly",
        "region": "",
        "size": "",
        "image": "agent:2",
        "SSH public key": key,
        "State database": "",
        "API token": "fly-token-abcdef123",
      },
    });
    expect(r.code).toBe(0);
    expect(r.prompts).toHaveLength(7);
    const profile = JSON.parse(readFileSync(home.configPath, "utf8")).profiles.default;
    expect(profile).toMatchObject({ provider: "fly", region: "ams", size: "shared-cpu-1x-2gb", image: "agent:2", fly: { token: "fly-token-abcdef123" } });
    expect(r.stdout + r.stderr).not.toContain("fly-token-abcdef123");
  });

  it("rejects an unknown provider with the valid ones", async () => {
    home = makeHome();
    const r = await runCli(["init", "--provider", "hetzer", "--no-input"], { env: home.env });
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('Error: unknown provider "hetzer"');
    expect(r.stderr).toContain("did you mean hetzner? providers: hetzner, fly, digitalocean, do");
  });
});
