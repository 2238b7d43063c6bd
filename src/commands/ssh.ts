import type { Command } from "commander";
import { runSsh } from "../access/shell.js";
import type { Context } from "../context.js";
import { action, examples, type CommandModule } from "../lib/command.js";
import { parseDuration, validateUser } from "../lib/validate.js";

export const sshCommand: CommandModule = {
  register(command: Command, ctx: Context) {
    command
      .argument("<user>", "user id")
      .argument("[command...]", "remote command (after --), joined with spaces like ssh does")
      .option("-t, --tty", "allocate a terminal even for a command")
      .option("--timeout <duration>", "stop the command after this long (e.g. 30s, 5m)")
      .addHelpText("after", `${examples(
        "automna ssh alice",
        "automna ssh alice -- docker logs --tail 20 automna-agent",
        "automna ssh alice -- 'du -sh /data' ",
        "tar -c notes | automna ssh alice -- tar -x -C /data",
      )}
Hetzner and DigitalOcean: the system ssh with ssh.user, ssh.port, ssh.identityFile and ssh.options
from the config, automna's own known_hosts (keys pinned at provision) and StrictHostKeyChecking=yes.
Fly, Koyeb, Cloudflare Sandbox: a command goes through the provider's exec API, its output shown
as it comes (Koyeb, Cloudflare Sandbox) or when it ends (Fly's endpoint answers once); a shell needs
the provider's CLI on PATH (flyctl ssh console, koyeb services exec; none for Cloudflare Sandbox).
Exit codes: the remote command's; 124 when --timeout stopped it; 255 or 1 when the machine
cannot be reached.
`)
      .action(action(ctx, async (user: string, command: string[], flags: { tty?: boolean; timeout?: string }) => {
        validateUser(user);
        const timeoutMs = flags.timeout === undefined ? undefined : parseDuration("--timeout", flags.timeout);
        return runSsh(ctx, { user, command, tty: flags.tty === true, timeoutMs });
      }));
  },
};
