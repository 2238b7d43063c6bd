import type { Command } from "commander";
import type { Context } from "../context.js";
import { action, examples, type CommandModule } from "../lib/command.js";
import { addOutputFlag, DOCUMENT_FORMATS, renderDetails, renderDocument, resolveFormat } from "../lib/output.js";
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
    addOutputFlag(command)
      .addHelpText("after", examples("automna version", "automna version --json"))
      .action(action(ctx, async (flags: { output?: string }) => {
        const r = versionReport(ctx);
        renderDocument(ctx.io, resolveFormat(flags.output, ctx.globals.json, DOCUMENT_FORMATS), r, () => renderDetails(ctx.io, [
          ["automna", r.version],
          ["node", r.node],
          ["state schema", `${r.stateSchema.sqlite} (SQLite), ${r.stateSchema.postgres} (PostgreSQL)`],
          ["platform", r.platform],
        ]));
      }));
  },
};
