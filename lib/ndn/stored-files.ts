/**
 * The files the owner stored with `bucky put`, as the zone knows them. Kept on the device
 * that stored them alone, a file was lost with that device (its disk dead, `bucky get`
 * from every other device failed forever). So each is a zone record,
 * `system/files/<id>` = `{size, at, name}` (private: the zone state goes to its members
 * only), and every device takes a whole copy of each within the zone's budget for stored
 * files (lib/ndn/stored-file-copies.ts). Each device says which it holds whole under its
 * own `nodes/<device>/files/<id>`: only it may write there, so `bucky status` counts the
 * copies alike on every device. `bucky rm <id>`, from any device, deletes the record:
 * every device lets its copy go a day later, as named data nothing keeps.
 *
 * An app's named data (`POST /v1/objects` of the app API) is the zone's the same way: one
 * record for each app that stored it, `system/files/apps/<app>/<id>` = `{size, at}`, which
 * the app deletes when it lets the object go (`DELETE /v1/objects/<id>`). Kept on the device
 * running the app alone, it was lost with that device, and collected there a day later as
 * named data nothing kept.
 *
 * A record is a member's words: its size bounds what any device fetches for it (a file
 * larger than it said gets no copy), and the budget bounds them all (every device keeps a
 * copy of each within it, so a huge size, or many records, fill no disk past it). Each
 * device that stored files has a share of the budget (lib/ndn/within-budget.ts), so a
 * member's records, whatever their size or time, push only its own files past it.
 */

import type { Op } from "../../protocol/changeset.ts";
import type { DeviceId } from "../../protocol/ids.ts";
import { checkAppName } from "../../protocol/names.ts";
import { type ObjectId, parseObjectId } from "../../protocol/ndn.ts";
import { isRecord } from "../../protocol/shape.ts";
import { FILES_BUDGET_KEY } from "../../protocol/zone-budget.ts";
import { budgetBytes } from "../state/budgets.ts";
import {
  parsedValue,
  type StateReader,
  sqliteOf,
  stateRowsMatching,
  stateValue,
} from "../store/reads.ts";
import { type Membership, standingOf } from "../sync/membership.ts";
import { formatBytes } from "../units.ts";
import type { ZoneWriter } from "../zone/zone-writer.ts";
import { compareWritten, splitByBudgetPerAuthor } from "./within-budget.ts";

/** Where the zone records its stored files, one key each. */
export const FILES_PREFIX = "system/files/";
/** Where the owner sets the budget for stored files, signed (protocol/zone-budget.ts). */
export { FILES_BUDGET_KEY };
/** What the records' keys and the budget's key both begin with. */
export const FILES_KEYS = "system/files";
/**
 * What every device keeps copies of at most, when `system/files-budget` does not say:
 * each device holds all of them, so this is what stored files take of each disk.
 */
export const FILES_BUDGET_BYTES = 32 * 1024 ** 3;

const recordKey = (id: ObjectId) => `${FILES_PREFIX}${id}`;
/** Where an app's stored objects are recorded: `system/files/apps/<app>/<id>`. */
const APP_FILES_PREFIX = `${FILES_PREFIX}apps/`;
const appRecordKey = (app: string, id: ObjectId) => `${APP_FILES_PREFIX}${app}/${id}`;
/** Where `device` says it holds the whole of `id`. */
const heldKey = (device: string, id: ObjectId) => `nodes/${device}/files/${id}`;
const heldPrefix = (device: string) => `nodes/${device}/files/`;

/** A stored file as its record says. */
export interface StoredFileRecord {
  readonly id: ObjectId;
  /** As it was stored; null when the record says none a size can be. */
  readonly sizeBytes: number | null;
  readonly at: string;
  /** The file's name where it was stored ("" for an app's). */
  readonly name: string;
  /** The app that stored it through its API; null for the owner's (`bucky put`). */
  readonly app: string | null;
  /** The device that wrote the record, when it is a member the zone knows. */
  readonly storedBy: string | null;
  /** The id of the device that wrote the record, and its clock then (its row's). */
  readonly author: string;
  readonly hlcMs: number;
  readonly hlcCounter: number;
}

export interface StoredFilesBudget {
  readonly budgetBytes: number;
  /** In the order written: every device copies them. */
  readonly within: readonly StoredFileRecord[];
  /** Kept by the device that stored them alone; a record with no size is always past it. */
  readonly past: readonly StoredFileRecord[];
}

/** The row of a record: none (never stored, as far as the zone knows), live, or deleted when. */
export type StoredFileRow =
  | { readonly kind: "none" }
  | { readonly kind: "live" }
  | { readonly kind: "released"; readonly atMs: number };

export function storedFileRow(db: StateReader, id: ObjectId): StoredFileRow {
  const row = sqliteOf(db)
    .query<{ value: string | null; hlc_ms: number }, [string]>(
      "SELECT value, hlc_ms FROM state WHERE key = ?",
    )
    .get(recordKey(id));
  if (row === null) return { kind: "none" };
  return row.value === null ? { kind: "released", atMs: row.hlc_ms } : { kind: "live" };
}

export function isStoredFile(db: StateReader, id: ObjectId): boolean {
  return Boolean(stateValue(db, recordKey(id)));
}

/** The budget the owner set, or the default. */
export function storedFilesBudgetBytes(db: StateReader): number {
  return budgetBytes(db, FILES_BUDGET_KEY, FILES_BUDGET_BYTES);
}

/** Every stored file's record, in the order written, as the state keeps it (not its `at`). */
export function storedFileRecords(db: StateReader, membership?: Membership): StoredFileRecord[] {
  return sqliteOf(db)
    .query<
      { key: string; value: string | null; author: string; hlcMs: number; hlcCounter: number },
      [string]
    >(
      "SELECT key, value, author, hlc_ms AS hlcMs, hlc_counter AS hlcCounter FROM state WHERE key GLOB ?",
    )
    .all(`${FILES_PREFIX}*`)
    .flatMap((row) => {
      const { id, app } = recordOf(row.key);
      if (!id || row.value === null) return [];
      const said = parsedValue(row.value);
      const field = (name: string) => (isRecord(said) ? said[name] : undefined);
      const size = field("size");
      const at = field("at");
      const name = field("name");
      return [
        {
          id,
          sizeBytes: Number.isSafeInteger(size) && (size as number) >= 0 ? (size as number) : null,
          at: typeof at === "string" ? at : "",
          name: typeof name === "string" ? name.slice(0, 200) : "",
          app,
          storedBy: membership?.byId.get(row.author as DeviceId)?.name ?? null,
          author: row.author,
          hlcMs: row.hlcMs,
          hlcCounter: row.hlcCounter,
        },
      ];
    })
    .sort(compareWritten);
}

/** What writes the records: the zone writer, or a running node. */
interface StateWriter {
  readonly db: StateReader;
  write(ops: readonly Op[]): unknown;
}

/** The object and app a record's key names (no id: a key of another shape). */
function recordOf(key: string): { id: ObjectId | undefined; app: string | null } {
  const rest = key.slice(FILES_PREFIX.length);
  if (!rest.startsWith("apps/")) return { id: parseObjectId(rest)?.id, app: null };
  const [app = "", id = "", ...more] = rest.slice("apps/".length).split("/");
  const valid = more.length === 0 && checkAppName(app).ok;
  return { id: valid ? parseObjectId(id)?.id : undefined, app };
}

/**
 * Which stored files every device copies: each device that stored files has a share of the
 * budget (within-budget.ts), and each of its files, in the order it stored them, that
 * still fits its share is within.
 */
export function storedFilesBudget(db: StateReader, membership?: Membership): StoredFilesBudget {
  return splitStoredFiles(storedFileRecords(db, membership), storedFilesBudgetBytes(db));
}

/** storedFilesBudget of records read already (storedFileRecords). */
function splitStoredFiles(
  records: readonly StoredFileRecord[],
  budgetBytes: number,
): StoredFilesBudget {
  // The owner's files first: apps' objects share what they leave, each app on each device
  // a share of its own, so an app storing without end pushes only its own past the budget.
  const owners = splitByBudgetPerAuthor(
    records.filter((record) => record.app === null),
    budgetBytes,
  );
  const ownersWithin = new Set(owners.within.map((record) => record.id));
  const apps = records.filter((record) => record.app !== null);
  // An object the owner's files keep already takes no more of the budget.
  const free = apps.filter((record) => ownersWithin.has(record.id));
  const rest = splitByBudgetPerAuthor(
    apps.filter((record) => !ownersWithin.has(record.id)),
    budgetBytes - owners.usedBytes,
    (record) => `${record.author}/${record.app}`,
  );
  return {
    budgetBytes,
    within: [...owners.within, ...free, ...rest.within].sort(compareWritten),
    past: [...owners.past, ...rest.past].sort(compareWritten),
  };
}

/**
 * Whether a stored file's record `kept` picks out is within the budget. At once when every
 * record's size, added, fits it (each with a size is then within: the usual case, which an
 * app storing object after object meets on every call); else as storedFilesBudget orders
 * them all, sharing the budget out.
 */
function withinBudgetBy(db: StateReader, kept: (record: StoredFileRecord) => boolean): boolean {
  // Read as the budget reads them (one parser: a size SQLite's JSON reads otherwise, a
  // duplicate key or 1e2, would make the sum a member's to shrink).
  const records = storedFileRecords(db);
  const budgetBytes = storedFilesBudgetBytes(db);
  let total = 0;
  for (const record of records) total += record.sizeBytes ?? 0;
  if (total <= budgetBytes)
    return records.some((record) => record.sizeBytes !== null && kept(record));
  return splitStoredFiles(records, budgetBytes).within.some(kept);
}

/** The writes that record `id` as a file stored here, held whole here. */
export function storedFileOps(
  device: string,
  file: { id: ObjectId; sizeBytes: number; name: string; atMs: number },
): Op[] {
  return [
    {
      key: recordKey(file.id),
      value: JSON.stringify({
        size: file.sizeBytes,
        at: new Date(file.atMs).toISOString(),
        name: file.name.slice(0, 200),
      }),
    },
    { key: heldKey(device, file.id), value: "true" },
  ];
}

/**
 * Records `id` as an object `app` stored through its API on this device, held whole here:
 * every device then copies it, within the budget, until the app lets it go. An object the
 * app recorded already keeps its record (and its place in the budget's order).
 */
export function recordAppObject(
  zone: StateWriter & { now(): number },
  device: string,
  app: string,
  object: { id: ObjectId; sizeBytes: number },
): { withinBudget: boolean } {
  const key = appRecordKey(app, object.id);
  const said = parsedValue(stateValue(zone.db, key));
  const ops: Op[] = [];
  if (!isRecord(said) || said.size !== object.sizeBytes)
    ops.push({
      key,
      value: JSON.stringify({ size: object.sizeBytes, at: new Date(zone.now()).toISOString() }),
    });
  if (!holdsWhole(zone.db, device, object.id))
    ops.push({ key: heldKey(device, object.id), value: "true" });
  if (ops.length > 0) zone.write(ops);
  const withinBudget = withinBudgetBy(
    zone.db,
    (record) => record.app === app && record.id === object.id,
  );
  return { withinBudget };
}

/** Lets `app`'s record of `id` go: whether it had one (nothing is written when not). */
export function releaseAppObject(zone: StateWriter, app: string, id: ObjectId): boolean {
  const key = appRecordKey(app, id);
  if (!stateValue(zone.db, key)) return false;
  zone.write([{ key, value: null }]);
  return true;
}

/** The writes that let every object `app` recorded go (its purge, with its data). */
export function releasedAppObjectsOps(db: StateReader, app: string): Op[] {
  return stateRowsMatching(db, `${APP_FILES_PREFIX}${app}/*`)
    .filter((row) => row.value !== null)
    .map((row) => ({ key: row.key, value: null }));
}

/** The write that lets `id` go, zone-wide, and says this device no longer keeps it. */
export function releasedFileOps(device: string, id: ObjectId): Op[] {
  return [
    { key: recordKey(id), value: null },
    { key: heldKey(device, id), value: null },
  ];
}

/** The files `device` says it holds whole. */
/** Whether `device` says it holds the whole of `id`. */
function holdsWhole(db: StateReader, device: string, id: ObjectId): boolean {
  return Boolean(stateValue(db, heldKey(device, id)));
}

export function filesHeldBy(db: StateReader, device: string): Set<ObjectId> {
  const prefix = heldPrefix(device);
  const held = new Set<ObjectId>();
  for (const row of stateRowsMatching(db, `${prefix}*`)) {
    const id = parseObjectId(row.key.slice(prefix.length))?.id;
    if (id && row.value !== null) held.add(id);
  }
  return held;
}

/**
 * The devices that say they hold each file whole, read in one pass: whom to try again as
 * they answer again (lib/ndn/keep-copies.ts).
 */
export function fileHolders(db: StateReader): Map<ObjectId, Set<string>> {
  const holders = new Map<ObjectId, Set<string>>();
  for (const row of stateRowsMatching(db, "nodes/*/files/*")) {
    // `*` matches a `/` too: only `nodes/<device>/files/<id>` is a device's word.
    const [, device, files, rest, more] = row.key.split("/");
    const id = files === "files" && more === undefined ? parseObjectId(rest ?? "")?.id : undefined;
    if (!id || !device || row.value === null) continue;
    const devices = holders.get(id) ?? new Set<string>();
    devices.add(device);
    holders.set(id, devices);
  }
  return holders;
}

/**
 * The writes that make what this device says it holds match what it holds: a file
 * recorded and whole here is said held; one said held and no longer recorded or whole
 * is said no more.
 */
export function heldFileOps(
  db: StateReader,
  device: string,
  holdsWhole: (id: ObjectId) => boolean,
): Op[] {
  const said = filesHeldBy(db, device);
  const recorded = new Set(storedFileRecords(db).map((record) => record.id));
  const ops: Op[] = [];
  for (const id of recorded)
    if (!said.has(id) && holdsWhole(id)) ops.push({ key: heldKey(device, id), value: "true" });
  for (const id of said)
    if (!recorded.has(id) || !holdsWhole(id)) ops.push({ key: heldKey(device, id), value: null });
  return ops;
}

/** How many devices in good standing say they hold each stored file whole. */
export function storedFileCopies(
  db: StateReader,
  membership: Membership,
): Map<ObjectId, { record: StoredFileRecord; copies: number }> {
  const copies = new Map(
    storedFileRecords(db, membership).map((record) => [record.id, { record, copies: 0 }]),
  );
  for (const member of membership.byId.values()) {
    if (standingOf(membership, member.id) !== "member") continue;
    for (const id of filesHeldBy(db, member.name)) {
      const file = copies.get(id);
      if (file) file.copies++;
    }
  }
  return copies;
}

/** What `bucky status` says of the stored files: the same on every device. */
export interface StoredFilesSummary {
  readonly files: number;
  /** Their sizes as stored, added (those with none count nothing). */
  readonly bytes: number;
  /** Those fewer than two devices hold whole: lost with the device that holds them. */
  readonly fewerThanTwoCopies: number;
  /** The owner's past the zone's budget for stored files: no other device copies them. */
  readonly pastBudget: number;
  readonly budgetBytes: number;
}

export function summarizeStoredFiles(db: StateReader, membership: Membership): StoredFilesSummary {
  const copies = storedFileCopies(db, membership);
  const { past, budgetBytes } = storedFilesBudget(db);
  let bytes = 0;
  let fewerThanTwoCopies = 0;
  for (const { record, copies: count } of copies.values()) {
    bytes += record.sizeBytes ?? 0;
    if (count < 2) fewerThanTwoCopies++;
  }
  // The owner's alone: what `bucky rm` can let go (an app's past it, the app was told).
  const pastBudget = new Set(past.filter((record) => record.app === null).map((r) => r.id)).size;
  return { files: copies.size, bytes, fewerThanTwoCopies, pastBudget, budgetBytes };
}

/** The note `bucky status` gives when some stored files have fewer than two copies. */
export interface StoredFilesAtRiskNote {
  readonly files: number;
  readonly pastBudget: number;
  readonly budgetBytes: number;
}

export function storedFilesAtRiskNotes(summary: StoredFilesSummary): StoredFilesAtRiskNote[] {
  if (summary.fewerThanTwoCopies === 0) return [];
  return [
    {
      files: summary.fewerThanTwoCopies,
      pastBudget: summary.pastBudget,
      budgetBytes: summary.budgetBytes,
    },
  ];
}

export function describeStoredFilesAtRisk(note: StoredFilesAtRiskNote): string {
  const one = note.files === 1;
  const past =
    note.pastBudget > 0
      ? `; ${note.pastBudget} of the stored files ${note.pastBudget === 1 ? "is" : "are"} past the zone's budget for stored files (${formatBytes(note.budgetBytes)}), which no other device copies: remove some (\`bucky rm <id>\`), or raise it with \`bucky state set ${FILES_BUDGET_KEY} <bytes>\` on a device holding the owner key`
      : "";
  return `${note.files} stored ${one ? "file has" : "files have"} fewer than two copies in the zone: ${one ? "it is" : "they are"} lost with the device that holds ${one ? "it" : "them"}; keep the zone's devices running until another holds ${one ? "it" : "them"}${past}`;
}

/**
 * Records `id` as a file the zone stores, held whole on this device. One recorded already
 * with its true size keeps its record (written again, it would move last in the budget's
 * order, where it might no longer fit): this device only says it holds it too. One
 * recorded with another size (a member's lie, which kept every copy away) is written anew.
 */
export function recordStoredFile(
  zone: ZoneWriter,
  device: string,
  file: { id: ObjectId; sizeBytes: number; name: string },
): { id: ObjectId; withinBudget: boolean } {
  const said = parsedValue(stateValue(zone.db, recordKey(file.id)));
  const [record, held] = storedFileOps(device, { ...file, atMs: zone.now() }) as [Op, Op];
  const ops =
    isRecord(said) && said.size === file.sizeBytes
      ? holdsWhole(zone.db, device, file.id)
        ? []
        : [held]
      : [record, held];
  if (ops.length > 0) zone.write(ops);
  if (ops.length > 1) zone.log.info("file stored in the zone", { id: file.id });
  const withinBudget = withinBudgetBy(zone.db, (record) => record.id === file.id);
  return { id: file.id, withinBudget };
}

/** Lets `id` go, zone-wide: `wasStored` says whether the zone stored it (nothing is written when not). */
export function releaseStoredFile(
  zone: ZoneWriter,
  device: string,
  id: ObjectId,
): { id: ObjectId; wasStored: boolean } {
  const wasStored = isStoredFile(zone.db, id);
  if (wasStored) {
    zone.write(releasedFileOps(device, id));
    zone.log.info("stored file released", { id });
  }
  return { id, wasStored };
}
