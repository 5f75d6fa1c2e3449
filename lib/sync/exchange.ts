/**
 * The two sides of a pull: what this node holds (its version vector), and the entries a
 * peer lacks given its vector, in the order this node applied them, a page at a time.
 */
import type { DeviceId } from "../../protocol/ids.ts";
import {
  type EntriesMessage,
  PAGE_BYTES,
  type VersionVector,
} from "../../protocol/sync-messages.ts";
import type { StateDb } from "../store/db.ts";

export function versionVector(db: StateDb): VersionVector {
  const rows = db.$client
    .query<{ author: string; seq: number }, []>(
      "SELECT author, max(seq) AS seq FROM changesets GROUP BY author",
    )
    .all();
  return new Map(rows.map((row) => [row.author as DeviceId, row.seq]));
}

export function entriesMissingFrom(
  db: StateDb,
  have: VersionVector,
  pageBytes = PAGE_BYTES,
): EntriesMessage {
  const rows = db.$client
    .query<{ bytes: Uint8Array }, [string]>(
      `SELECT bytes FROM changesets
       WHERE seq > coalesce((SELECT value FROM json_each(?1) WHERE key = changesets.author), 0)
       ORDER BY local_order`,
    )
    .iterate(JSON.stringify(Object.fromEntries(have)));
  const entries: Uint8Array[] = [];
  let size = 0;
  for (const row of rows) {
    if (entries.length > 0 && size + row.bytes.length > pageBytes) {
      // Stop reading the statement early: there is more than one page.
      return { entries, more: true };
    }
    entries.push(row.bytes);
    size += row.bytes.length;
  }
  return { entries, more: false };
}
