/**
 * Homes whose test starts a detached sandbox (`automna sandbox up --detach`) through the built
 * binary: each is stopped (`sandbox down`) and removed after its test, whatever the test did.
 */
import { fileURLToPath } from "node:url";
import { execa } from "execa";
import { afterEach } from "vitest";
import { makeHome, type Sandbox } from "./cli.js";

const BIN = fileURLToPath(new URL("../../dist/bin/automna.js", import.meta.url));

/** The built binary run in a home, never rejecting (tests read its exit code). */
export const automnaIn = (h: Sandbox, ...args: string[]) => execa(process.execPath, [BIN, ...args], { env: h.env, extendEnv: false, reject: false });

/** Registers the clean-up for this file and returns the maker of such homes. */
export function detachedSandboxHomes(): () => Sandbox {
  const homes: Sandbox[] = [];
  afterEach(async () => {
    for (const h of homes.splice(0)) {
      await automnaIn(h, "sandbox", "down");
      h.cleanup();
    }
  });
  return () => {
    const h = makeHome();
    homes.push(h);
    return h;
  };
}
