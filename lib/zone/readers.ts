/**
 * The zone's members as readers of its writes: which level of write rules each reads
 * (protocol/write-rules.ts WRITE_RULES_LEVEL, said in its `devices/<n>/info`), and which
 * bucky it runs. A member of a lower level refuses a write of a newer kind as reserved, and
 * every later changeset of the writer then waits at that member behind it: nothing is
 * written that a member in good standing would refuse (lib/state/feed.ts), and background
 * writes of a new kind wait, or are written in the older shape, until every member reads
 * them.
 */
import type { Op } from "../../protocol/changeset.ts";
import { compareCodeUnits } from "../../protocol/text-order.ts";
import {
  LEVELED_KEY_PATTERNS,
  levelNeededFor,
  WRITE_RULES_LEVEL,
} from "../../protocol/write-rules.ts";
import { BuckyError } from "../errors.ts";
import { readDeviceInfo } from "../node/peers.ts";
import { type StateReader, stateRowsMatching } from "../store/reads.ts";
import { type Membership, standingOf } from "../sync/membership.ts";

/** A member in good standing, as a reader of the zone's writes. */
export interface Reader {
  readonly name: string;
  /** The bucky it runs, as its info says (null: it has said none yet). */
  readonly version: string | null;
  /** The level of write rules it reads: 0 from a bucky before levels were said, or no info. */
  readonly level: number;
}

/** The device asking, whose level is known without its info (which may not be written yet). */
export interface SelfReader {
  readonly name: string;
  readonly level: number;
}

/**
 * Every member in good standing as a reader, by name; `self`, when given, at the level it
 * knows it reads (a device about to write, whose first info may not be written yet).
 */
export function zoneReaders(db: StateReader, membership: Membership, self?: SelfReader): Reader[] {
  const readers: Reader[] = [];
  for (const member of membership.byId.values()) {
    if (standingOf(membership, member.id) !== "member") continue;
    const info = readDeviceInfo(db, member.name);
    readers.push({
      name: member.name,
      version: info?.version ?? null,
      level: member.name === self?.name ? self.level : (info?.writeRules ?? 0),
    });
  }
  return readers.sort((a, b) => compareCodeUnits(a.name, b.name));
}

/** The lowest level of write rules among the members in good standing (this bucky's when none). */
export function lowestLevel(readers: readonly Reader[]): number {
  return Math.min(WRITE_RULES_LEVEL, ...readers.map((reader) => reader.level));
}

/** The members in good standing below `level`: those that refuse a write needing it. */
export function readersBelow(readers: readonly Reader[], level: number): Reader[] {
  return readers.filter((reader) => reader.level < level);
}

/**
 * The members that would refuse `ops` (by the first op some member refuses), or none.
 * Cheap for most writes: the members are read only for a write of a newer kind.
 */
export function refusingReaders(
  db: StateReader,
  membership: () => Membership,
  ops: readonly Op[],
  self: SelfReader,
): { readonly op: Op; readonly readers: readonly Reader[] } | undefined {
  for (const op of ops) {
    const level = levelNeededFor(op);
    if (level === 0) continue;
    const below = readersBelow(zoneReaders(db, membership(), self), level);
    if (below.length > 0) return { op, readers: below };
  }
  return undefined;
}

/**
 * Whether every member in good standing takes `op`, this device (`node`) at the level it
 * reads: a write of its kind is held back, or written in an older shape, until then.
 */
export function everyMemberReads(
  node: {
    readonly db: StateReader;
    membership(): Membership;
    readonly deviceName: string;
    readonly writeRulesLevel: number;
  },
  op: Op,
): boolean {
  const level = levelNeededFor(op);
  if (level === 0) return true;
  const self = { name: node.deviceName, level: node.writeRulesLevel };
  return lowestLevel(zoneReaders(node.db, node.membership(), self)) >= level;
}

/**
 * A write the zone's state holds that a device reading `level` refuses, or undefined when
 * it takes them all. Deleted keys count: their deletion reaches it as a write too. Such a
 * device, admitted, would refuse it as it syncs, and every later change of its writer.
 */
export function refusedInState(db: StateReader, level: number): Op | undefined {
  if (level >= WRITE_RULES_LEVEL) return undefined;
  for (const pattern of LEVELED_KEY_PATTERNS)
    for (const row of stateRowsMatching(db, pattern)) if (levelNeededFor(row) > level) return row;
  return undefined;
}

/** The error for a write `readers` would refuse: which device, which bucky, what to do. */
export function heldBackError(op: Op, readers: readonly Reader[]): BuckyError {
  const named = readers.map(
    (reader) => `${reader.name} (bucky ${reader.version ?? "of a version not said yet"})`,
  );
  const names = readers.map((reader) => reader.name).join(", ");
  // A member that has said nothing yet (admitted, its daemon not run since) may well run this
  // bucky: starting it says so.
  const unheard = readers.every((reader) => reader.version === null);
  return new BuckyError(
    "E_UPGRADE_FIRST",
    `cannot write ${op.key}: ${named.join(", ")} run${readers.length === 1 ? "s" : ""} a bucky that refuses it, and would then refuse every later change of this device`,
    unheard
      ? `Start the daemon on ${names} (\`bucky up\`), so that it says which bucky it runs, then try again.`
      : `Upgrade ${names} first (install this bucky there and restart its daemon), then try again.`,
  );
}
