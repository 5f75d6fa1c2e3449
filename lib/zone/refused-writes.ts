/**
 * Who refuses whose changes, as the refusing devices say in their facts (lib/sync/
 * refused-writes.ts): each pair once, with the bucky each runs and which to upgrade, so
 * that every device's `bucky status` says the same, the refusing device's too.
 */
import { compareCodeUnits } from "../../protocol/text-order.ts";
import { quoted } from "../facts/said-by.ts";
import type { DeviceStanding } from "../facts/zone-facts.ts";
import type { Reader } from "./readers.ts";

/** `device` refuses `author`'s changesets from `fromSeq` on: the zone's writes stop there. */
export interface WritesRefusedNote {
  readonly device: string;
  readonly author: string;
  readonly fromSeq: number;
  /** The refusal as `device` says it: its words. */
  readonly reason: string;
  /** Since when, as `device` says it (RFC 3339). */
  readonly since: string;
  /** The bucky each runs, as its info says (null: not said yet). */
  readonly deviceVersion: string | null;
  readonly authorVersion: string | null;
  /**
   * The device to upgrade: `device`, when it reads an older level of write rules than
   * `author` (lib/zone/readers.ts); null when the levels do not tell.
   */
  readonly upgrade: string | null;
}

/** The refusals the members in good standing (`devices`) say, of members, by device then author. */
export function writesRefusedNotes(
  devices: readonly DeviceStanding[],
  readers: readonly Reader[],
): WritesRefusedNote[] {
  const byName = new Map(readers.map((reader) => [reader.name, reader]));
  const notes: WritesRefusedNote[] = [];
  for (const device of devices) {
    const refuser = byName.get(device.name);
    if (!refuser) continue;
    for (const [name, said] of Object.entries(device.facts.writesRefused ?? {})) {
      const author = byName.get(name);
      if (!author || name === device.name) continue;
      notes.push({
        device: device.name,
        author: name,
        fromSeq: said.seq,
        reason: said.reason,
        since: said.since,
        deviceVersion: refuser.version,
        authorVersion: author.version,
        upgrade: refuser.level < author.level ? device.name : null,
      });
    }
  }
  return notes.sort(
    (a, b) => compareCodeUnits(a.device, b.device) || compareCodeUnits(a.author, b.author),
  );
}

/** `beta refuses alpha's changes from #57 ("…"); beta runs bucky 0.1.0, alpha 0.2.0: upgrade beta` */
export function describeWritesRefused(note: WritesRefusedNote): string {
  const runs = (version: string | null) =>
    version === null ? "a bucky that has not said its version" : `bucky ${version}`;
  return `${note.device} refuses ${note.author}'s changes from #${note.fromSeq} (${quoted(note.reason)}), and every later change of ${note.author} waits there; ${note.device} runs ${runs(note.deviceVersion)}, ${note.author} ${runs(note.authorVersion)}: ${
    note.upgrade !== null
      ? `upgrade ${note.upgrade}`
      : sameBucky(note)
        ? `both run the same bucky, so no update takes it: ${note.author} wrote what the zone's rules refuse (a device taken over, or one whose home was altered); revoke it (\`bucky devices revoke ${note.author}\`) and join it again from a fresh home`
        : `update both to the same bucky (\`bucky --version\` on each)`
  }`;
}

/** Whether both devices said they run the same bucky: a refusal no update ends. */
function sameBucky(note: Pick<WritesRefusedNote, "deviceVersion" | "authorVersion">): boolean {
  return note.deviceVersion !== null && note.deviceVersion === note.authorVersion;
}
