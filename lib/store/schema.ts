/**
 * Drizzle's view of the state database. The SQL in migrations/ is what creates it; this
 * file must describe the same tables (a test compares them).
 */
import {
  blob,
  index,
  integer,
  primaryKey,
  sqliteTable,
  text,
  unique,
} from "drizzle-orm/sqlite-core";

export const node = sqliteTable("node", {
  id: integer("id").primaryKey(),
  zoneId: text("zone_id").notNull(),
  deviceId: text("device_id").notNull(),
  deviceName: text("device_name").notNull(),
  hlcMs: integer("hlc_ms").notNull().default(0),
  hlcCounter: integer("hlc_counter").notNull().default(0),
});

export const changesets = sqliteTable(
  "changesets",
  {
    localOrder: integer("local_order").primaryKey({ autoIncrement: true }),
    author: text("author").notNull(),
    seq: integer("seq").notNull(),
    hash: blob("hash", { mode: "buffer" }).notNull(),
    bytes: blob("bytes", { mode: "buffer" }).notNull(),
    receivedAt: integer("received_at").notNull(),
  },
  (table) => [unique().on(table.author, table.seq)],
);

/**
 * A key's row as the merge leaves it: its value (null: deleted), the clock it was written
 * at and the changeset that wrote it. `state` holds these; `checkpoint_base` the same
 * rows as the adopted checkpoint had them. A function, for each table needs builders of
 * its own.
 */
const keyRowColumns = () => ({
  key: text("key").primaryKey(),
  value: text("value"),
  hlcMs: integer("hlc_ms").notNull(),
  hlcCounter: integer("hlc_counter").notNull(),
  author: text("author").notNull(),
  seq: integer("seq").notNull(),
});

export const state = sqliteTable("state", keyRowColumns());

export const peers = sqliteTable("peers", {
  deviceId: text("device_id").primaryKey(),
  address: text("address"),
  lastSeenAt: integer("last_seen_at").notNull(),
  rttMs: integer("rtt_ms").notNull(),
});

export const invites = sqliteTable("invites", {
  id: text("id").primaryKey(),
  secretHash: blob("secret_hash", { mode: "buffer" }).notNull(),
  createdAt: integer("created_at").notNull(),
  expiresAt: integer("expires_at").notNull(),
  usesLeft: integer("uses_left").notNull(),
  revokedAt: integer("revoked_at"),
  mac: blob("mac", { mode: "buffer" }),
  /** Whether a device joining with it is given the zone's backup key. */
  givesBackupKey: integer("gives_backup_key", { mode: "boolean" }).notNull().default(true),
});

export const quarantine = sqliteTable("quarantine", {
  deviceId: text("device_id").primaryKey(),
  seq: integer("seq").notNull(),
  detectedAt: integer("detected_at").notNull(),
  kept: blob("kept", { mode: "buffer" }).notNull(),
  conflicting: blob("conflicting", { mode: "buffer" }).notNull(),
});

export const traffic = sqliteTable(
  "traffic",
  {
    app: text("app").notNull(),
    client: text("client").notNull(),
    minute: integer("minute").notNull(),
    requests: integer("requests").notNull(),
    bytesIn: integer("bytes_in").notNull(),
    bytesOut: integer("bytes_out").notNull(),
  },
  (table) => [primaryKey({ columns: [table.app, table.client, table.minute] })],
);

export const usedLogins = sqliteTable("used_logins", {
  nonce: text("nonce").primaryKey(),
  expiresAt: integer("expires_at").notNull(),
});

export const agentAudit = sqliteTable(
  "agent_audit",
  {
    id: integer("id").primaryKey(),
    at: integer("at").notNull(),
    agent: text("agent").notNull(),
    tool: text("tool").notNull(),
    arguments: text("arguments").notNull(),
    dryRun: integer("dry_run", { mode: "boolean" }).notNull(),
    ok: integer("ok", { mode: "boolean" }).notNull(),
    outcome: text("outcome").notNull(),
  },
  (table) => [index("agent_audit_by_agent").on(table.agent, table.at)],
);

export const presence = sqliteTable("presence", {
  device: text("device").primaryKey(),
  at: integer("at").notNull(),
  heardAt: integer("heard_at").notNull(),
  bytes: blob("bytes", { mode: "buffer" }).notNull(),
});

export const deviceFacts = sqliteTable("device_facts", {
  device: text("device").primaryKey(),
  at: integer("at").notNull(),
  heardAt: integer("heard_at").notNull(),
  bytes: blob("bytes", { mode: "buffer" }).notNull(),
});

export const stateSeal = sqliteTable("state_seal", {
  id: integer("id").primaryKey(),
  stateDigest: blob("state_digest", { mode: "buffer" }).notNull(),
  stateRows: integer("state_rows").notNull(),
  changesetDigest: blob("changeset_digest", { mode: "buffer" }).notNull(),
  changesetRows: integer("changeset_rows").notNull(),
  ownHead: blob("own_head", { mode: "buffer" }),
  verifiedAt: integer("verified_at"),
  damage: text("damage"),
  mac: blob("mac", { mode: "buffer" }).notNull(),
});

/** The version of the state's merge rules its rows were last worked out under (lib/state/rules-upgrade.ts). */
export const stateRules = sqliteTable("state_rules", {
  id: integer("id").primaryKey(),
  version: integer("version").notNull(),
});

export const checkpoint = sqliteTable("checkpoint", {
  id: integer("id").primaryKey(),
  body: blob("body", { mode: "buffer" }).notNull(),
  endorsements: blob("endorsements", { mode: "buffer" }).notNull(),
  adoptedAt: integer("adopted_at").notNull(),
  baseDigest: blob("base_digest", { mode: "buffer" }).notNull(),
  baseRows: integer("base_rows").notNull(),
  mac: blob("mac", { mode: "buffer" }).notNull(),
});

export const checkpointBase = sqliteTable("checkpoint_base", keyRowColumns());

export const ndnPins = sqliteTable("ndn_pins", {
  id: text("id").primaryKey(),
  note: text("note").notNull(),
  pinnedAt: integer("pinned_at").notNull(),
});

export const ndnUnreferenced = sqliteTable("ndn_unreferenced", {
  id: text("id").primaryKey(),
  since: integer("since").notNull(),
});

export const ndnCollection = sqliteTable("ndn_collection", {
  id: integer("id").primaryKey(),
  startedAt: integer("started_at").notNull(),
});
