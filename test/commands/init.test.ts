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
      // Nobody at a terminal and no flags for them: left for later, and said so.
      missing: ["object storage (automna init --help shows its flags)", "DNS (automna init --help shows its flags)"],
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
        "object storage now": true,
        "S3 endpoint URL": "https://s3.example.test",
        "Bucket:": "agents",
        "Access key id": "AKIDEXAMPLE",
        "Secret access key": "storage-secret-xyz789",
        "DNS (Cloudflare) now": false,
      },
    });
    expect(r.code, r.stderr).toBe(0);
    expect(r.prompts).toHaveLength(13);
    // A short introduction first: what automna is and what init sets.
    expect(r.stderr.split("\n")[0]).toMatch(/^automna runs one always-on AI agent per user/);
    const profile = JSON.parse(readFileSync(home.configPath, "utf8")).profiles.default;
    expect(profile).toMatchObject({
      provider: "fly", region: "ams", size: "shared-cpu-1x-2gb", image: "agent:2", fly: { token: "fly-token-abcdef123" },
      storage: { endpoint: "https://s3.example.test", bucket: "agents", accessKeyId: "AKIDEXAMPLE", secretAccessKey: "storage-secret-xyz789" },
    });
    // DNS was skipped when asked: nothing of it is written, and the closing hint says it is missing.
    expect(profile.cloudflare).toBeUndefined();
    expect(r.stderr).toContain("Migrations and backups still need: DNS");
    expect(r.stdout + r.stderr).not.toContain("fly-token-abcdef123");
    expect(r.stdout + r.stderr).not.toContain("storage-secret-xyz789");
  });

  it("takes storage and DNS from flags, needs both halves of each, and skips them when told", async () => {
    home = makeHome();
    const flags = ["--no-input", "init", "--provider", "hetzner", "--image", "a:1"];
    const half = await runCli([...flags, "--storage-endpoint", "https://s3.example.test"], { env: home.env });
    expect([half.code, half.stderr.split("\n")[0]]).toEqual([2, "Error: object storage: also pass --storage-bucket"]);
    const bad = await runCli([...flags, "--storage-endpoint", "s3.example.test", "--storage-bucket", "b"], { env: home.env });
    expect([bad.code, bad.stderr.split("\n")[0]]).toEqual([2, 'Error: value for storage.endpoint: "s3.example.test" is not an http:// or https:// URL']);
    const full = await runCli(["--json", ...flags, "--storage-endpoint", "https://s3.example.test", "--storage-bucket", "b", "--dns-zone", "z1", "--dns-template", "{user}.a.example"], { env: home.env });
    expect(full.code, full.stderr).toBe(0);
    expect(full.json()).toMatchObject({
      settings: { "storage.endpoint": "https://s3.example.test", "storage.bucket": "b", "cloudflare.zoneId": "z1", "dns.template": "{user}.a.example" },
      missing: ["AUTOMNA_STORAGE_ACCESS_KEY_ID (object storage)", "AUTOMNA_STORAGE_SECRET_ACCESS_KEY (object storage)", "CLOUDFLARE_API_TOKEN (DNS)"],
    });
    const skipped = await runCli(["--json", "--profile", "other", ...flags, "--no-storage", "--no-dns"], { env: home.env });
    expect(skipped.json()).toMatchObject({ missing: [] });
  });

  it("rejects an unknown provider with the valid ones", async () => {
    home = makeHome();
    const r = await runCli(["init", "--provider", "hetzer", "--no-input"], { env: home.env });
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('Error: unknown provider "hetzer"');
    expect(r.stderr).toContain("did you mean hetzner? providers: hetzner, fly, digitalocean, do");
  });
});
