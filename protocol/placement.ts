/**
 * Where an app runs, decided by every node alike from the same zone state, so no node
 * commands another: an app pinned to a device runs there; an app placed `any` runs on the
 * live device with the highest rendezvous hash of (app, device). When that device stops
 * being live, the next-highest takes over, and only the apps it held move.
 */
import { createHash } from "node:crypto";

export interface Candidate {
  readonly name: string;
  readonly id: string;
}

/**
 * The device that should run `app`: `placement` itself when it names a member, else for
 * `any` the best of `live`; undefined when there is none.
 */
export function placeApp(
  app: string,
  placement: string,
  members: readonly Candidate[],
  live: readonly Candidate[],
): string | undefined {
  if (placement !== "any")
    return members.some((member) => member.name === placement) ? placement : undefined;
  return rankDevices(app, live)[0]?.name;
}

/**
 * Devices in `app`'s placement order: by the rendezvous hash of (app, device), highest
 * first. The first live one runs an `any` app; the next ones keep copies of its data.
 */
export function rankDevices<C extends Candidate>(app: string, candidates: readonly C[]): C[] {
  return candidates
    .map((candidate) => ({
      candidate,
      score: createHash("sha256").update(`${app}\n${candidate.id}`).digest("hex"),
    }))
    .sort((a, b) => (a.score < b.score ? 1 : a.score > b.score ? -1 : 0))
    .map(({ candidate }) => candidate);
}
