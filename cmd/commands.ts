/**
 * The command tree. Commands load on demand, so starting `bucky` costs only the
 * command that runs.
 */
import type { CommandDef } from "citty";
import { defineGroup } from "./command.ts";
import { globalArgs } from "./context.ts";
import { VERSION } from "./version-info.ts";

const load = (importer: () => Promise<{ default: CommandDef }>) => () =>
  importer().then((m) => m.default);

export const rootCommand: CommandDef = {
  meta: {
    name: "bucky",
    version: VERSION,
    description: "Your own cloud: one zone for all your devices, apps and verified backups",
  },
  args: {
    version: { type: "boolean", alias: "V", description: "Print the version" },
    ...globalArgs,
  },
  subCommands: {
    init: load(() => import("./init.ts")),
    status: load(() => import("./status.ts")),
    zone: defineGroup(
      { name: "zone", description: "Look at the zone's signed documents" },
      {
        show: load(() => import("./zone/show.ts")),
      },
    ),
    version: load(() => import("./version.ts")),
  },
};
