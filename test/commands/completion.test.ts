import { afterEach, describe, expect, it } from "vitest";
import { makeHome, runCli, type Sandbox } from "../helpers/cli.js";

let home: Sandbox;
afterEach(() => home?.cleanup());

// The shells themselves drive these scripts in test/e2e/completion-shells.test.ts.
describe("automna completion", () => {
  it("prints a script per shell, each asking automna __complete, and rejects other shells", async () => {
    home = makeHome();
    const bash = await runCli(["completion", "bash"], { env: home.env });
    expect(bash.code).toBe(0);
    expect(bash.stdout).toContain("complete -F _automna automna");
    expect((await runCli(["completion", "zsh"], { env: home.env })).stdout).toContain("compdef _automna automna");
    expect((await runCli(["completion", "fish"], { env: home.env })).stdout).toContain("complete -c automna -f -a '(__automna_complete)'");
    for (const shell of ["bash", "zsh", "fish"]) expect((await runCli(["completion", shell], { env: home.env })).stdout).toContain("automna __complete");
    const bad = await runCli(["completion", "powershell"], { env: home.env });
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain('unknown shell "powershell"');
  });
});
