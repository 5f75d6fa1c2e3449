/**
 * Which snapshot a restore takes: one named by (a prefix of) its id, or the newest of a
 * device. Snapshots are of devices, and a home is one of them: `latest` is this device's
 * own; a box just recovered from the phrase becomes the device with the newest snapshot;
 * and a home that is one of the zone's devices is never turned into another.
 */
import type { SnapshotSignature } from "../../protocol/backup/snapshot-signature.ts";
import type { ZoneId } from "../../protocol/ids.ts";
import { compareCodeUnits } from "../../protocol/text-order.ts";
import { BuckyError } from "../errors.ts";
import type { Membership } from "../sync/membership.ts";
import { namedBy } from "./repository.ts";
import { lastBackupsMissing, type SaidLatest } from "./said-latest.ts";
import { datedByNow, type NamedSnapshot, newestByDevice } from "./snapshot-trust.ts";
import type { ResolvedTarget } from "./zone-targets.ts";

/** What this home is, when its zone state opens: its zone, its device, the zone's devices. */
export interface HomeView {
  readonly zone: ZoneId;
  readonly device: string;
  readonly members: ReadonlySet<string>;
  readonly membership: Membership;
  readonly targets: ResolvedTarget[];
}

/**
 * The snapshot to restore: one named by (a prefix of) its id, or the newest of a device.
 * Which device: the one asked for; else this one, when it has snapshots. A home restore on
 * a box that knows none of the devices in the repository (just recovered from the phrase)
 * becomes the device with the newest snapshot; a home that is one of the zone's devices is
 * never turned into another (that would make two of it). `latest` is the newest snapshot
 * whose signature holds: any holder of the backup key can file a newer one, unsigned or
 * forged, in a device's name, and a device's own key (a revoked device's) can date one far
 * ahead to make it come first: one dated after `nowMs` (and the allowance for clocks) is no
 * device's newest. One named by its id is the one named (a restore checks it).
 */
export function chooseSnapshot(
  all: readonly NamedSnapshot[],
  which: string,
  context: {
    device: string | undefined;
    home: HomeView | undefined;
    intoHome: boolean;
    location: string;
    /** What each snapshot's signature says, by snapshot name. */
    signatures: ReadonlyMap<string, SnapshotSignature>;
    /** The restore's now, ms since the epoch. */
    nowMs: number;
  },
): NamedSnapshot {
  const { home, intoHome } = context;
  if (which !== "latest") {
    const matches = namedBy(all, which).filter(
      (s) => context.device === undefined || s.snapshot.device === context.device,
    );
    if (matches.length !== 1)
      throw new BuckyError(
        matches.length === 0 ? "E_NOT_FOUND" : "E_INVALID_INPUT",
        matches.length === 0
          ? `no snapshot ${which}${context.device ? ` of ${context.device}` : ""} in ${context.location}`
          : `${which} names ${matches.length} snapshots`,
        "See them with `bucky backup list`.",
      );
    const found = matches[0] as NamedSnapshot;
    if (intoHome && home) refuseOtherMember(home, found.snapshot.device);
    return found;
  }
  const newestAny = newestByDevice(all);
  const newest = newestByDevice(
    all.filter(
      (s) =>
        context.signatures.get(s.name)?.kind === "signed" && datedByNow(s.snapshot, context.nowMs),
    ),
  );
  const devices = [...newestAny.keys()].sort(compareCodeUnits);
  if (devices.length === 0)
    throw new BuckyError(
      "E_NOT_FOUND",
      `${context.location} has no snapshots yet`,
      "Make one with `bucky backup run`.",
    );
  const pick = (device: string): NamedSnapshot => {
    const found = newest.get(device);
    const unchecked = newestAny.get(device);
    if (!found && unchecked)
      throw noneSigned(unchecked, context.signatures, context.location, context.nowMs);
    if (!found)
      throw new BuckyError(
        "E_NOT_FOUND",
        `${context.location} has no snapshot of ${device}`,
        `It has snapshots of: ${devices.join(", ")}; name one with --device.`,
      );
    if (intoHome && home) refuseOtherMember(home, device);
    return found;
  };
  if (context.device) return pick(context.device);
  if (home && newestAny.has(home.device)) return pick(home.device);
  // A box that knows none of them was just recovered; with its zone state damaged, this
  // home is the repository's only device, or unknown.
  const signedDevices = [...newest.keys()];
  const fresh = home ? !signedDevices.some((d) => home.members.has(d)) : signedDevices.length === 1;
  if (intoHome && fresh) {
    const latest = [...newest.values()].sort((a, b) =>
      compareCodeUnits(a.snapshot.time, b.snapshot.time),
    );
    const found = latest.at(-1);
    if (found) return found;
    const unchecked = [...newestAny.values()].sort((a, b) =>
      compareCodeUnits(a.snapshot.time, b.snapshot.time),
    );
    throw noneSigned(
      unchecked.at(-1) as NamedSnapshot,
      context.signatures,
      context.location,
      context.nowMs,
    );
  }
  throw new BuckyError(
    "E_NOT_FOUND",
    `${context.location} has no snapshot of ${home?.device ?? "this device"}`,
    `It has snapshots of: ${devices.join(", ")}; name one with --device (a device's home is restored on that device, or into a directory with --to).`,
  );
}

/**
 * The last backup `latest`'s device said it made (lib/backup/said-latest.ts), when `chosen`
 * is older and the target holds no later one: the target lost or hid it, and restoring
 * `chosen` would quietly bring back older data. Refused unless `acceptOlder`; then it is
 * returned, for the restore to say what it passed over.
 */
export function olderThanSaid(
  chosen: NamedSnapshot,
  said: readonly SaidLatest[],
  context: { location: string; acceptOlder: boolean },
): SaidLatest | undefined {
  const [missing] = lastBackupsMissing(
    said.filter((last) => last.device === chosen.snapshot.device),
    [chosen.snapshot],
  );
  if (!missing || context.acceptOlder) return missing;
  throw new BuckyError(
    "E_INTEGRITY",
    `${missing.device}'s last backup (${missing.snapshot.slice(0, 8)}, ${missing.at}), as ${missing.device} said it, is not in ${context.location}, nor any later one: its latest there is the older ${chosen.name.slice(0, 8)} (${chosen.snapshot.time}); nothing was restored`,
    `The target lost or hid it. Restore from another target that holds it (--from), or take the older one with --accept-older; \`bucky backup run\` on ${missing.device} stores its data again.`,
  );
}

/** Refuses to turn this home, a device of the zone, into another of its devices. */
function refuseOtherMember(home: HomeView, device: string): void {
  if (device === home.device || !home.members.has(device)) return;
  throw new BuckyError(
    "E_INVALID_INPUT",
    `this home is ${home.device}, a device of the zone: restoring ${device}'s home here would make a second ${device}`,
    `Restore ${device}'s files into a directory with --to, or its home on ${device} itself (or on a new box, after \`bucky init --recover\`).`,
  );
}

/**
 * A device none of whose snapshots is signed by any key (an older bucky's, or forged), or
 * whose signed ones are all dated ahead of now: which is its own cannot be told, so none is
 * taken unless named. None is suggested either: the newest unsigned one is exactly what a
 * holder of the backup key would plant.
 */
function noneSigned(
  newest: NamedSnapshot,
  signatures: ReadonlyMap<string, SnapshotSignature>,
  location: string,
  nowMs: number,
): BuckyError {
  const device = newest.snapshot.device;
  const signature = signatures.get(newest.name);
  const ahead = signature?.kind === "signed" && !datedByNow(newest.snapshot, nowMs);
  return new BuckyError(
    "E_INTEGRITY",
    ahead
      ? `the signed snapshots of ${device} in ${location} are dated ahead of this box's clock: none is taken as its newest`
      : `no snapshot of ${device} in ${location} is signed: which are ${device}'s cannot be checked`,
    ahead
      ? "Check this box's clock; see them with `bucky backup list`, and name one you know by its id: `bucky backup restore <id>`."
      : signature?.kind === "forged"
        ? `Its newest, ${newest.name.slice(0, 8)}, is forged (${signature.why}). See them all with \`bucky backup list\`.`
        : `They were made by an older bucky, or by anyone holding the backup key. See them with \`bucky backup list\` (time, host, size), and restore one you know is ${device}'s by its id: \`bucky backup restore <id>\`.`,
  );
}
