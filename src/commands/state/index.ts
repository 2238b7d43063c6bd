import type { Command } from "commander";
import type { Context } from "../../context.js";
import { action, examples, type CommandModule } from "../../lib/command.js";
import { registerAudit } from "./audit.js";
import { runStateServe } from "./serve.js";
import { registerToken } from "./token.js";

export const stateCommand: CommandModule = {
  register(state: Command, ctx: Context) {
    state.addHelpText("after", examples(
      "automna state serve --db /srv/automna/state.db --listen 127.0.0.1:7070",
      "automna state token create ann --scope write --db /srv/automna/state.db",
      "automna state audit --since 1h",
    ));

    state
      .command("serve")
      .description("run the shared state API (HTTP JSON, bearer tokens, leases, audit log) until Ctrl-C/SIGTERM")
      .option("--db <path|url>", "SQLite file or postgres://user@host/db (default: the embedded state database)")
      .option("--listen <host:port>", "address to listen on", "127.0.0.1:7070")
      .option("--tls-cert <file>", "PEM certificate: serve https")
      .option("--tls-key <file>", "PEM private key of --tls-cert")
      .addHelpText("after", examples(
        "automna state serve --db /srv/automna/state.db",
        "automna state serve --db postgres://automna@db.internal/automna --listen 0.0.0.0:7070 --tls-cert cert.pem --tls-key key.pem",
      ))
      .action(action(ctx, async (opts: { db?: string; listen: string; tlsCert?: string; tlsKey?: string }) => {
        const result = await runStateServe(ctx, opts);
        if (ctx.globals.json) ctx.io.json(result);
      }));

    registerToken(state, ctx);
    registerAudit(state, ctx);
  },
};
