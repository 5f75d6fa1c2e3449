/**
 * The zone state as a key/value store, for people and programs: read entries, and turn
 * sets and deletes into local writes. Values are JSON; a delete leaves a tombstone, which
 * reads as absent.
 */
import { and, asc, eq, gte, isNotNull, lt } from "drizzle-orm";
import type { Changeset, Op } from "../../protocol/changeset.ts";
import { MAX_VALUE_BYTES } from "../../protocol/changeset.ts";
import { BuckyError } from "../errors.ts";
import type { StateQueries } from "../store/db.ts";
import { state } from "../store/schema.ts";
import { requireStateKey } from "./state-key.ts";

export interface Entry {
  readonly key: string;
  readonly value: unknown;
  /** RFC 3339: the wall-clock part of the write's hybrid logical clock. */
  readonly updatedAt: string;
  /** The writing device's name (its id when it is not a member). */
  readonly author: string;
  readonly authorId: string;
}

export interface KeyValueStore {
  readonly db: StateQueries;
  write(ops: readonly Op[]): Changeset;
  /** Device names by id, to show who wrote what. */
  nameOf(id: string): string | undefined;
}

export function getEntry(store: KeyValueStore, key: string): Entry {
  requireStateKey(key);
  const row = store.db
    .select()
    .from(state)
    .where(and(eq(state.key, key), isNotNull(state.value)))
    .get();
  if (!row)
    throw new BuckyError(
      "E_NOT_FOUND",
      `no key ${key} in the zone state`,
      "List keys with `bucky state list`.",
    );
  return toEntry(store, row);
}

/** The entries whose keys start with `prefix`, in key order: the first `limit`, if given. */
export function listEntries(store: KeyValueStore, prefix = "", limit?: number): Entry[] {
  const query = store.db
    .select()
    .from(state)
    // Keys are ASCII below DEL, so [prefix, prefix + DEL) is exactly the keys that start with it.
    .where(and(gte(state.key, prefix), lt(state.key, `${prefix}\x7f`), isNotNull(state.value)))
    .orderBy(asc(state.key));
  const rows = limit === undefined ? query.all() : query.limit(limit).all();
  return rows.map((row) => toEntry(store, row));
}

export function setEntry(store: KeyValueStore, key: string, value: unknown): Entry {
  requireStateKey(key);
  store.write([{ key, value: valueText(value) }]);
  return getEntry(store, key);
}

/** The JSON text a value is stored as, refused when it is no JSON or over MAX_VALUE_BYTES. */
export function valueText(value: unknown): string {
  const text = JSON.stringify(value);
  if (text === undefined) throw new BuckyError("E_INVALID_INPUT", "a value must be JSON");
  if (Buffer.byteLength(text) > MAX_VALUE_BYTES) {
    throw new BuckyError("E_INVALID_INPUT", `a value is at most ${MAX_VALUE_BYTES} bytes of JSON`);
  }
  return text;
}

export function deleteEntry(store: KeyValueStore, key: string): { key: string; deleted: true } {
  getEntry(store, key);
  store.write([{ key, value: null }]);
  return { key, deleted: true };
}

function toEntry(store: KeyValueStore, row: typeof state.$inferSelect): Entry {
  return {
    key: row.key,
    value: JSON.parse(row.value as string),
    updatedAt: new Date(row.hlcMs).toISOString(),
    author: store.nameOf(row.author) ?? row.author,
    authorId: row.author,
  };
}
