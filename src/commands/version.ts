import type { Command } from "commander";
import type { Context } from "../context.js";
import { action, examples, type CommandModule } from "../lib/command.js";
import { renderDetails } from "../lib/output.js";
import { PG_SCHEMA_VERSION } from "../state/pg-schema.js";
import { SCHEMA_VERSION } from "../state/schema.js";

export interface VersionReport {
  version: string;
  node: string;
  /** The state schema versions this automna writes (and the newest it reads), per backend. */
  stateSchema: { sqlite: number; postgres: number };
  platform: string;
}

export function versionReport(ctx: Context): VersionReport {
  return {
    version: ctx.version,
    node: process.versions.node,
    stateSchema: { sqlite: SCHEMA_VERSION, postgres: PG_SCHEMA_VERSION },
    platform: `${process.platform}-${process.arch}`,
  };
}

export const versionCommand: CommandModule = {
  register(command: Command, ctx: Context) {
    command
      .addHelpText("after", examples("automna version", "automna version --json"))
      .action(action(ctx, async () => {
        const r = versionReport(ctx);
        if (ctx.globals.json) return ctx.io.json(r);
        renderDetails(ctx.io, [
          ["automna", r.version],
          ["node", r.node],
          ["state schema", `${r.stateSchema.sqlite} (SQLite), ${r.stateSchema.postgres} (PostgreSQL)`],
          ["platform", r.platform],
        ]);
      }));
  },
};
