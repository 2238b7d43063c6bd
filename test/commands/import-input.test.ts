import { afterAll, describe, expect, it } from "vitest";
import { makeHome, runCli } from "../helpers/cli.js";

const home = makeHome();
afterAll(() => home.cleanup());

describe("import: input checks before any provider is called", () => {
  it("needs exactly one of --from-file and --match; --match needs --provider and a {user}", async () => {
    const cases: [string[], string][] = [
      [["import"], "Error: say what to import: --from-file FILE (- for stdin) or --match PATTERN --provider P"],
      [["import", "--from-file", "x.csv", "--match", "a-{user}"], "Error: give --from-file or --match, not both"],
      [["import", "--match", "a-{user}"], "Error: --match needs --provider"],
      [["import", "--from-file", "x.csv", "--provider", "fly"], "Error: --provider goes with --match (a mapping names each row's provider)"],
      [["import", "--match", "agents", "--provider", "fly"], 'Error: --match must contain {user} exactly once, got "agents"'],
      [["import", "--from-file", "/nonexistent/users.csv"], "Error: --from-file: cannot read /nonexistent/users.csv: ENOENT: no such file or directory, open '/nonexistent/users.csv'"],
      [["import", "--from-file", "-", "--concurrency", "0"], 'Error: --concurrency must be a whole number from 1 to 64, got "0"'],
    ];
    for (const [argv, first] of cases) {
      const r = await runCli(argv, { env: home.env });
      expect([r.code, r.stderr.split("\n")[0]], argv.join(" ")).toEqual([2, first]);
    }
  });

  it("a valid mapping for a provider without a token fails before anything is read or written", async () => {
    const r = await runCli(["--json", "import", "--from-file", "-"], { env: home.env, stdin: "alice,hetzner,42\n" });
    expect(r.code).toBe(1);
    expect(r.json<{ error: { code: string; message: string; hint: string } }>().error).toEqual({
      code: "auth", message: "no Hetzner Cloud API token, needed to find the resources to import; nothing was imported", hint: "export HCLOUD_TOKEN=<token>",
    });
  });

  it("is listed in help with its flags", async () => {
    const help = await runCli(["import", "--help"], { env: home.env });
    expect(help.stdout).toContain("--accept-host-key");
    expect(help.stdout).toContain("--from-file <file>");
    const root = await runCli(["--help"], { env: home.env });
    expect(root.stdout).toMatch(/^ {2}import +take over users/m);
  });
});
