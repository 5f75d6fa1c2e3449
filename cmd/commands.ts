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
    up: load(() => import("./up.ts")),
    stop: load(() => import("./stop.ts")),
    init: load(() => import("./init.ts")),
    join: load(() => import("./join.ts")),
    daemon: load(() => import("./daemon/run.ts")),
    status: load(() => import("./status.ts")),
    devices: load(() => import("./devices/list.ts")),
    invite: load(() => import("./invite/create.ts")),
    app: defineGroup(
      { name: "app", description: "Install and manage the zone's apps" },
      {
        install: load(() => import("./app/install.ts")),
        list: load(() => import("./app/list.ts")),
        status: load(() => import("./app/status.ts")),
        logs: load(() => import("./app/logs.ts")),
        start: load(() => import("./app/start.ts")),
        stop: load(() => import("./app/stop.ts")),
        remove: load(() => import("./app/remove.ts")),
        limit: load(() => import("./app/limit.ts")),
        move: load(() => import("./app/move.ts")),
        "restore-copy": load(() => import("./app/restore-copy.ts")),
        "delete-copy": load(() => import("./app/delete-copy.ts")),
        share: load(() => import("./app/share.ts")),
        import: load(() => import("./app/import.ts")),
      },
    ),
    store: defineGroup(
      {
        name: "store",
        description: "The zone's app store: apps from catalogs, installed in one step",
      },
      {
        list: load(() => import("./store/list.ts")),
        search: load(() => import("./store/search.ts")),
        install: load(() => import("./store/install.ts")),
        add: load(() => import("./store/add.ts")),
        update: load(() => import("./store/update.ts")),
        remove: load(() => import("./store/remove.ts")),
        publish: load(() => import("./store/publish.ts")),
      },
    ),
    gateway: defineGroup(
      { name: "gateway", description: "Serve the zone's apps to people, from this device" },
      {
        enable: load(() => import("./gateway/enable.ts")),
        disable: load(() => import("./gateway/disable.ts")),
        approve: load(() => import("./gateway/approve.ts")),
      },
    ),
    ca: defineGroup(
      { name: "ca", description: "The zone's certificate authority, for local names" },
      {
        export: load(() => import("./ca/export.ts")),
      },
    ),
    relay: defineGroup(
      { name: "relay", description: "Relays outside the zone, for devices behind NAT" },
      {
        add: load(() => import("./relay/add.ts")),
        list: load(() => import("./relay/list.ts")),
        rm: load(() => import("./relay/rm.ts")),
      },
    ),
    user: defineGroup(
      { name: "user", description: "The people of the zone: who signs in, and as what" },
      {
        add: load(() => import("./user/add.ts")),
        list: load(() => import("./user/list.ts")),
        remove: load(() => import("./user/remove.ts")),
        reset: load(() => import("./user/reset.ts")),
        "sign-out": load(() => import("./user/sign-out.ts")),
      },
    ),
    "login-link": load(() => import("./login-link.ts")),
    panel: load(() => import("./panel.ts")),
    agent: defineGroup(
      { name: "agent", description: "AI agents: access granted by scope, every call recorded" },
      {
        grant: load(() => import("./agent/grant.ts")),
        list: load(() => import("./agent/list.ts")),
        revoke: load(() => import("./agent/revoke.ts")),
        log: load(() => import("./agent/log.ts")),
      },
    ),
    mcp: load(() => import("./mcp.ts")),
    traffic: load(() => import("./traffic.ts")),
    rule: defineGroup(
      { name: "rule", description: "Access rules every gateway enforces (parental control)" },
      {
        add: load(() => import("./rule/add.ts")),
        list: load(() => import("./rule/list.ts")),
        rm: load(() => import("./rule/rm.ts")),
      },
    ),
    backup: defineGroup(
      { name: "backup", description: "Encrypted, incremental backups outside the zone, verified" },
      {
        target: defineGroup(
          { name: "target", description: "Where backups go: directories and SFTP servers" },
          {
            add: load(() => import("./backup/target-add.ts")),
            list: load(() => import("./backup/target-list.ts")),
            rm: load(() => import("./backup/target-rm.ts")),
          },
        ),
        key: load(() => import("./backup/key.ts")),
        run: load(() => import("./backup/run.ts")),
        list: load(() => import("./backup/list.ts")),
        verify: load(() => import("./backup/verify.ts")),
        restore: load(() => import("./backup/restore.ts")),
        prune: load(() => import("./backup/prune.ts")),
      },
    ),
    put: load(() => import("./put.ts")),
    rm: load(() => import("./rm.ts")),
    get: load(() => import("./get.ts")),
    state: defineGroup(
      { name: "state", description: "Read and write the zone's key/value state" },
      {
        get: load(() => import("./state/get.ts")),
        set: load(() => import("./state/set.ts")),
        del: load(() => import("./state/del.ts")),
        list: load(() => import("./state/list.ts")),
        repair: load(() => import("./state/repair.ts")),
      },
    ),
    zone: defineGroup(
      { name: "zone", description: "Look at the zone's signed documents; hold its owner key" },
      {
        show: load(() => import("./zone/show.ts")),
        "owner-key": load(() => import("./zone/owner-key.ts")),
      },
    ),
    version: load(() => import("./version.ts")),
  },
};
