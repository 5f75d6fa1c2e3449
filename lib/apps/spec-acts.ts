/**
 * What people do to an installed app, kept beside its spec, each under a key of its own:
 *
 *   users/<user>/apps/<app>/desired   a start or stop           {desired, installedAt}
 *   users/<user>/apps/<app>/removed   a removal                 {desired: "removed", installedAt}
 *   users/<user>/apps/<app>/move      a move                    {placement, moveTo, movedAt, installedAt}
 *   users/<user>/apps/<app>/share     whom it is shared with    {shared, sharedAt}
 *   users/<user>/apps/<app>/restore-copy  a conflict copy asked back  {device, name, at}
 *
 * The spec is one document, and every command wrote it whole: two given at once on two
 * devices (a removal on one, a share or a move on the other, neither heard of the other)
 * kept only the one of the later clock, and the other was undone without a word: a removed
 * app running again, an app shared with one person open to the whole zone again. Each act
 * under its own key stands beside the other.
 *
 * A start, stop, removal or move is of one install (its `installedAt`), and of the upgrade
 * of it (whose spec names it `installedOver`): an upgrade carries over what it saw, and a
 * start, stop, removal or move given at once elsewhere stands beside it, whichever came
 * later (install-record.ts keeps the upgrade where a spec written later from before it
 * would undo it). An upgrade that places the app elsewhere writes its own move. Those of
 * an install two upgrades back, or before a removal, no longer apply. A share is of the
 * app, as the owner set it, across upgrades, and so is a
 * conflict copy asked back (the device keeping it takes over with it, and then the copy is
 * gone: an ask of a copy no longer there asks nothing). The spec
 * still carries a copy of what each act says (what a bucky from before these keys reads),
 * and is marked by a bucky that writes them (`actsAt`, its own updatedAt: an older bucky
 * copies the field over and writes another updatedAt). A spec without the mark (an older
 * bucky's, or written by hand) is taken as it says over the acts written before it.
 *
 * A removal is the end of an install: said by the spec or by its act (under a key no start
 * or stop writes), it stands over a start or stop given at once. A purge is only ever the
 * spec's own (its grant bound to the spec's row, lib/apps/purge.ts): an act names an
 * install by what any member can copy (its installedAt), so a thief writing an old
 * install's spec again would otherwise make the owner's old purge of it apply to the data
 * of the install since. A purge raced by another command removes the app and keeps its
 * data, which a purge then deletes.
 */
import type { Op } from "../../protocol/changeset.ts";
import { ProtocolError } from "../../protocol/errors.ts";
import { checkDeviceName } from "../../protocol/names.ts";
import { isConflictCopyName } from "../../protocol/replica.ts";
import { requireRecord, requireString, requireUint } from "../../protocol/shape.ts";
import type { StateReader } from "../store/reads.ts";
import { type StateRow, stateRowsBetween, writtenAfter } from "../store/row-order.ts";
import { appKeys } from "./app-keys.ts";
import type { AppSpec, DesiredState } from "./spec.ts";

export interface DesiredAct {
  readonly desired: DesiredState;
  /** The install it is of (its spec's installedAt; null for a spec that says none). */
  readonly installedAt: string | null;
}

export interface MoveAct {
  /** Where the app is placed: a device's name, or "any". */
  readonly placement: string;
  /** The device an app placed on any device moves to, while it does. */
  readonly moveTo: string | null;
  readonly movedAt: string | null;
  readonly installedAt: string | null;
}

export interface ShareAct {
  readonly shared: readonly string[] | null;
  readonly sharedAt: string;
  /** AppSpec.sharedPastRemovals; absent in a share of a bucky before it. */
  readonly sharedPastRemovals?: Readonly<Record<string, number>>;
}

export interface RestoreCopyAct {
  /** The device keeping the copy, which takes the app over with it. */
  readonly device: string;
  /** The copy's name, as that device lists it. */
  readonly name: string;
  readonly at: string;
}

/** The op of a start, stop or removal of `spec`'s install, beside the spec it writes. */
export function desiredActOp(spec: AppSpec): Op {
  const act: DesiredAct = { desired: spec.desired, installedAt: spec.installedAt ?? null };
  const key = spec.desired === "removed" ? appKeys.removed : appKeys.desired;
  return { key: key(spec.app), value: JSON.stringify(act) };
}

/**
 * The acts a command writing `next` over `current` (as read) writes beside it besides its
 * own: where `current` was written by a bucky that keeps none, what it said (a start, a
 * share) stood over the acts before it; `next`, marked, would let those acts undo it, so
 * they are written anew as `next` carries them.
 */
export function carriedActOps(current: AppSpec, next: AppSpec): Op[] {
  if (writtenWithActs(current)) return [];
  return [desiredActOp(next), moveActOp(next), ...appActOps(next)];
}

/** The ops of `spec`'s acts that are of the app, not of one install: they hold across upgrades. */
export function appActOps(spec: AppSpec): Op[] {
  return [shareActOp(spec), restoreCopyActOp(spec)];
}

/** Whether `spec` was written by a bucky that keeps acts beside it (its mark is its own). */
export function writtenWithActs(spec: AppSpec): boolean {
  return spec.actsAt !== undefined && spec.actsAt === spec.updatedAt;
}

/** The op of a move of `spec`'s install, beside the spec it writes. */
export function moveActOp(spec: AppSpec): Op {
  const act: MoveAct = {
    placement: spec.placement,
    moveTo: spec.moveTo ?? null,
    movedAt: spec.movedAt ?? null,
    installedAt: spec.installedAt ?? null,
  };
  return { key: appKeys.move(spec.app), value: JSON.stringify(act) };
}

/** The op of a share of `spec`'s install, beside the spec it writes. */
export function shareActOp(spec: AppSpec): Op {
  const act: ShareAct = {
    shared: spec.shared ?? null,
    sharedAt: spec.sharedAt ?? spec.updatedAt,
    ...(spec.sharedPastRemovals ? { sharedPastRemovals: spec.sharedPastRemovals } : {}),
  };
  return { key: appKeys.share(spec.app), value: JSON.stringify(act) };
}

/**
 * The op of the conflict copy `spec` asks back, beside the spec it writes; with none asked,
 * the deletion of an ask before it (written anew from a spec that asks none, an ask of an
 * older write would apply again).
 */
export function restoreCopyActOp(spec: AppSpec): Op {
  const key = appKeys.restoreCopy(spec.app);
  if (!spec.restoreCopy) return { key, value: null };
  const { device, name, at } = spec.restoreCopy;
  const act: RestoreCopyAct = { device, name, at };
  return { key, value: JSON.stringify(act) };
}

/** `spec` with the acts among its app's `rows` (appRows) that apply to it laid over it (see above). */
export function withActs(rows: ReadonlyMap<string, StateRow>, spec: AppSpec): AppSpec {
  const specRow = rows.get(appKeys.spec(spec.app));
  const applies = <T extends DesiredAct | MoveAct | ShareAct | RestoreCopyAct>(
    key: string,
    parse: (value: unknown) => T,
    of: "install" | "app" = "install",
  ) => applying(spec, specRow, rows.get(key), parse, of);
  let out = spec;
  // A removal, the spec's or its act's, stands; whether it purges is the spec's alone.
  const removed = applies(appKeys.removed(spec.app), parseDesiredAct);
  if (removed?.act.desired === "removed") out = { ...out, desired: "removed" };
  else if (spec.desired !== "removed") {
    const desired = applies(appKeys.desired(spec.app), parseDesiredAct);
    if (desired && desired.act.desired !== "removed")
      out = { ...out, desired: desired.act.desired };
  }
  const move = applies(appKeys.move(spec.app), parseMoveAct);
  if (move) {
    const { moveTo: _, movedAt: __, ...rest } = out;
    const { placement, moveTo, movedAt } = move.act;
    out = {
      ...rest,
      placement,
      ...(moveTo !== null ? { moveTo } : {}),
      ...(movedAt !== null ? { movedAt } : {}),
    };
  }
  const share = applies(appKeys.share(spec.app), parseShareAct, "app");
  if (share) {
    const { sharedPastRemovals, ...rest } = out;
    out = {
      ...rest,
      shared: share.act.shared,
      sharedAt: share.act.sharedAt,
      // The share's own, or none: the spec's were of another share.
      ...(share.act.sharedPastRemovals ? { sharedPastRemovals: share.act.sharedPastRemovals } : {}),
    };
  }
  const restore = applies(appKeys.restoreCopy(spec.app), parseRestoreCopyAct, "app");
  if (restore) out = { ...out, restoreCopy: restore.act };
  return out;
}

/** The rows of `app`'s keys (users/<user>/apps/<app>/…), by key. */
export function appRows(db: StateReader, app: string): Map<string, StateRow> {
  const prefix = `${appKeys.specPrefix}${app}/`;
  return stateRowsBetween(db, prefix, `${prefix}\x7f`);
}

/** The act of `actRow` when it applies to `spec`: of its install (or, `app`, of the app). */
function applying<T extends DesiredAct | MoveAct | ShareAct | RestoreCopyAct>(
  spec: AppSpec,
  specRow: StateRow | undefined,
  actRow: StateRow | undefined,
  parse: (value: unknown) => T,
  of: "install" | "app",
): { act: T } | undefined {
  if (!actRow?.value) return undefined;
  let act: T;
  try {
    act = parse(JSON.parse(actRow.value));
  } catch (error) {
    // Any member writes these keys: one not of an act's shape is none.
    if (error instanceof ProtocolError || error instanceof SyntaxError) return undefined;
    throw error;
  }
  const installedAt = "installedAt" in act ? act.installedAt : undefined;
  if (
    of === "install" &&
    installedAt !== (spec.installedAt ?? null) &&
    (spec.installedOver === undefined || installedAt !== spec.installedOver)
  )
    return undefined;
  // A spec this bucky wrote carries a copy of the acts; one it did not is taken as it says
  // over the acts written before it. So is one that names no install (an older bucky's
  // install) for an act of an install: every such spec would take every such act for its own.
  const marked = writtenWithActs(spec) && (of === "app" || spec.installedAt !== undefined);
  if (!marked && specRow && !writtenAfter(actRow, specRow)) return undefined;
  return { act };
}

const MAX_TEXT = 2048;
const DESIRED_STATES = new Set<string>(["running", "stopped", "removed"]);

function installedAtOf(value: unknown): string | null {
  return value === null ? null : requireString(value, "its installedAt", MAX_TEXT);
}

function parseDesiredAct(value: unknown): DesiredAct {
  const act = requireRecord(value, "a start, stop or removal");
  if (!DESIRED_STATES.has(act.desired as string))
    throw new ProtocolError("its desired must be running, stopped or removed");
  return {
    desired: act.desired as DesiredState,
    installedAt: installedAtOf(act.installedAt),
  };
}

/** A device's name (or, for a placement, "any"): shown and compared as one, never a sentence. */
function deviceField(value: unknown, what: string, any = false): string {
  const text = requireString(value, what, MAX_TEXT);
  if (any && text === "any") return text;
  const name = checkDeviceName(text);
  if (!name.ok) throw new ProtocolError(`${what} must be a device name: ${name.reason}`);
  return text;
}

function parseMoveAct(value: unknown): MoveAct {
  const act = requireRecord(value, "a move");
  return {
    placement: deviceField(act.placement, "its placement", true),
    moveTo: act.moveTo === null ? null : deviceField(act.moveTo, "its moveTo"),
    movedAt: act.movedAt === null ? null : requireString(act.movedAt, "its movedAt", MAX_TEXT),
    installedAt: installedAtOf(act.installedAt),
  };
}

function parseShareAct(value: unknown): ShareAct {
  const act = requireRecord(value, "a share");
  let shared: string[] | null = null;
  if (act.shared !== null) {
    if (!Array.isArray(act.shared)) throw new ProtocolError("its shared must be a list");
    shared = act.shared.map((name) => requireString(name, "each of its shared", MAX_TEXT));
  }
  return {
    shared,
    sharedAt: requireString(act.sharedAt, "its sharedAt", MAX_TEXT),
    ...(act.sharedPastRemovals !== undefined
      ? { sharedPastRemovals: checkPastRemovals(act.sharedPastRemovals, "its sharedPastRemovals") }
      : {}),
  };
}

/** A share's removals by name (AppSpec.sharedPastRemovals): a rev for each name. */
export function checkPastRemovals(value: unknown, what: string): Record<string, number> {
  const record = requireRecord(value, what);
  for (const [name, rev] of Object.entries(record)) {
    requireString(name, `each name of ${what}`, MAX_TEXT);
    requireUint(rev, `each rev of ${what}`);
  }
  return record as Record<string, number>;
}

function parseRestoreCopyAct(value: unknown): RestoreCopyAct {
  const act = requireRecord(value, "a conflict copy asked back");
  // A path is made of the name on the device keeping the copy: a copy's name, or none.
  if (typeof act.name !== "string" || !isConflictCopyName(act.name))
    throw new ProtocolError("its name is not a conflict copy's");
  return {
    device: deviceField(act.device, "its device"),
    name: act.name,
    at: requireString(act.at, "its at", MAX_TEXT),
  };
}
