import { execFileSync } from "node:child_process";
import { join } from "node:path";
import { expect } from "vitest";
import { runClient, type ClientFlow } from "../flow.js";

const INSTALL = "apt-get install hcloud-cli";

/** Hetzner's own CLI (Debian `hcloud-cli`, binary `hcloud`), pointed at the sandbox by HCLOUD_ENDPOINT. */
export default {
  name: "hcloud CLI (Debian hcloud-cli)",
  async run({ sb, dir }) {
    const env = { HCLOUD_ENDPOINT: sb.urls.hetzner, HCLOUD_TOKEN: sb.token, HCLOUD_CONFIG: join(dir, "cli.toml"), HOME: dir };
    const hcloud = async (...args: string[]): Promise<string> => {
      const res = await runClient("hcloud", args, env, INSTALL);
      expect(res.code, `hcloud ${args.join(" ")}: ${res.stderr}`).toBe(0);
      return res.stdout;
    };
    const fails = async (args: string[], extra: Record<string, string> = {}): Promise<string> => {
      const res = await runClient("hcloud", args, { ...env, ...extra }, INSTALL);
      expect(res.code, `hcloud ${args.join(" ")} should fail`).not.toBe(0);
      return res.stderr;
    };
    const keyFile = join(dir, "id_ed25519");
    execFileSync("ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-C", "cli@test", "-f", keyFile]);

    await hcloud("ssh-key", "create", "--name", "cli-key", "--public-key-from-file", `${keyFile}.pub`, "--label", "team=cli");
    // The CLI resolves --image/--type/--location/--ssh-key to IDs and sends them as JSON numbers.
    for (const i of [1, 2, 3]) {
      const out = await hcloud("server", "create", "--name", `cli-${i}`, "--type", "cx22", "--image", "ubuntu-24.04", "--location", "fsn1", "--ssh-key", "cli-key", "--label", "app=cli", "--label", `n=${i}`);
      expect(out).toMatch(/Server \d+ created/);
    }
    // 55 more through the API, so the CLI's list (50 per page) has to follow the pagination.
    for (let i = 0; i < 55; i++) {
      const res = await fetch(`${sb.urls.hetzner}/servers`, {
        method: "POST", headers: { authorization: `Bearer ${sb.token}`, "content-type": "application/json" },
        body: JSON.stringify({ name: `bulk-${i}`, server_type: 104, image: 161547269, location: 1, labels: { app: "bulk" }, start_after_create: false }),
      });
      expect(res.status).toBe(201);
    }
    const bulk = JSON.parse(await hcloud("server", "list", "-l", "app=bulk", "-o", "json")) as { name: string }[];
    expect(bulk).toHaveLength(55);
    const some = JSON.parse(await hcloud("server", "list", "-l", "app=cli,n in (1,3)", "-o", "json")) as { name: string; status: string; labels: Record<string, string> }[];
    expect(some.map((s) => s.name).sort()).toEqual(["cli-1", "cli-3"]);
    expect(some.every((s) => s.status === "running")).toBe(true);
    const one = JSON.parse(await hcloud("server", "describe", "cli-2", "-o", "json")) as { server_type: { name: string }; image: { name: string }; labels: Record<string, string> };
    expect([one.server_type.name, one.image.name, one.labels]).toEqual(["cx22", "ubuntu-24.04", { app: "cli", n: "2" }]);

    await hcloud("server", "add-label", "cli-2", "stage=done");
    expect((JSON.parse(await hcloud("server", "list", "-l", "stage=done", "-o", "json")) as unknown[]).length).toBe(1);
    // Power actions wait on the action the API returns.
    await hcloud("server", "poweroff", "cli-2");
    expect((JSON.parse(await hcloud("server", "describe", "cli-2", "-o", "json")) as { status: string }).status).toBe("off");
    for (const i of [1, 2, 3]) await hcloud("server", "delete", `cli-${i}`);

    expect(await fails(["server", "describe", "nope"])).toMatch(/not found/i);
    expect(await fails(["server", "list"], { HCLOUD_TOKEN: "wrong-token" })).toMatch(/unable to authenticate|unauthorized/i);
    expect(await fails(["server", "create", "--name", "bad_name!", "--type", "cx22", "--image", "ubuntu-24.04"])).toMatch(/invalid_input|invalid input/);
    expect(await fails(["server", "create", "--name", "x", "--type", "cx99", "--image", "ubuntu-24.04"])).toMatch(/server type not found|cx99/i);
  },
} satisfies ClientFlow;
