/**
 * Drizzle's view of the state database. The SQL in migrations/ is what creates it; this
 * file must describe the same tables (a test compares them).
 */
import { blob, integer, primaryKey, sqliteTable, text } from "drizzle-orm/sqlite-core";

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
    author: text("author").notNull(),
    seq: integer("seq").notNull(),
    hash: blob("hash", { mode: "buffer" }).notNull(),
    bytes: blob("bytes", { mode: "buffer" }).notNull(),
    receivedAt: integer("received_at").notNull(),
  },
  (table) => [primaryKey({ columns: [table.author, table.seq] })],
);

export const state = sqliteTable("state", {
  key: text("key").primaryKey(),
  value: text("value"),
  hlcMs: integer("hlc_ms").notNull(),
  hlcCounter: integer("hlc_counter").notNull(),
  author: text("author").notNull(),
  seq: integer("seq").notNull(),
});
