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
  let best: { name: string; score: string } | undefined;
  for (const candidate of live) {
    const score = createHash("sha256").update(`${app}\n${candidate.id}`).digest("hex");
    if (!best || score > best.score) best = { name: candidate.name, score };
  }
  return best?.name;
}
