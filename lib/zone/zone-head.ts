/**
 * How far the zone holds a device's changesets: this device's view is not enough before
 * a revocation, which keeps a device's changesets up to one number and has every device
 * drop the rest, even those it applied. An owner's laptop back from a week away that
 * revokes the old tablet at once would erase, on the NAS too, what the tablet wrote that
 * week. So the members this device can reach are asked (the device revoked is not: it is
 * the one no longer trusted), and what they hold of it that this device lacks is pulled
 * here first, its signatures checked as any sync's; the head kept is then one this device
 * holds and can pass on. A member that holds more than could be pulled here in time makes
 * the revocation wait: better than dropping it.
 */
import { ProtocolError } from "../../protocol/errors.ts";
import type { DeviceId } from "../../protocol/ids.ts";
import type { VersionVector } from "../../protocol/sync-messages.ts";
import { BuckyError } from "../errors.ts";
import type { Peer } from "../node/peers.ts";
import { versionVector } from "../sync/exchange.ts";
import { standingOf } from "../sync/membership.ts";
import type { ZoneWriter } from "./zone-writer.ts";

/** What asking needs of the running node: its state, name and the peers it can call. */
export type AskingZone = ZoneWriter & { readonly deviceName: string; peers(): Peer[] };

/** How long the members have, together, to say (and send) what they hold. */
export const ASK_HEAD_TIMEOUT_MS = 15_000;
/**
 * How many times a member that said it holds more than came is asked again, this long
 * apart: one sending it to this device at that moment answers a pull without those pages
 * (lib/node/peer-api.ts), and they come by its push instead, in a moment.
 */
const ASK_AGAIN_TIMES = 4;
const ASK_AGAIN_AFTER_MS = 500;

/** Pulls from a peer what it holds that this device lacks; returns its version vector. */
export type PullFrom = (peer: Peer) => Promise<VersionVector>;

export interface ZoneHead {
  /** The highest changeset of the device that this device holds, every member heard. */
  readonly seq: number;
  /** The device whose head that is: this one, or the member it was pulled from. */
  readonly from: string;
  /** Each member asked, with its head of the device. */
  readonly asked: readonly { readonly device: string; readonly head: number }[];
  /** The members that could not be asked, and why: what they hold may be lost. */
  readonly notAsked: readonly { readonly device: string; readonly why: string }[];
}

/** The zone's head of `device`, as far as the members this device reaches hold it. */
export async function askZoneHead(
  zone: AskingZone,
  device: { id: DeviceId; name: string },
  pull: PullFrom,
  timeoutMs = ASK_HEAD_TIMEOUT_MS,
): Promise<ZoneHead> {
  const heldHere = () => versionVector(zone.db).get(device.id) ?? 0;
  const before = heldHere();
  const peers = zone.peers().filter((peer) => peer.id !== device.id);
  const reachable = new Set(peers.map((peer) => peer.id));
  // Members with no address published: nothing to ask.
  const membership = zone.membership();
  const notAsked: { device: string; why: string }[] = [...membership.byId.values()]
    .filter(
      (member) =>
        member.id !== zone.deviceId &&
        member.id !== device.id &&
        standingOf(membership, member.id) === "member" &&
        !reachable.has(member.id),
    )
    .map((member) => ({ device: member.name, why: "it has published no address" }));
  let timer: ReturnType<typeof setTimeout> | undefined;
  const late = new Promise<"late">((resolve) => {
    timer = setTimeout(() => resolve("late"), timeoutMs);
  });
  const answers = await Promise.all(
    peers.map(async (peer) => {
      try {
        let head: number | undefined;
        for (let asked = 0; asked <= ASK_AGAIN_TIMES; asked++) {
          if (asked > 0) await Promise.race([pause(ASK_AGAIN_AFTER_MS), late]);
          const answer = await Promise.race([pull(peer), late]);
          if (answer === "late") break;
          head = answer.get(device.id) ?? 0;
          if (head <= heldHere()) break;
        }
        if (head === undefined)
          return { peer, why: `it did not answer within ${durationOf(timeoutMs)}` };
        return { peer, head };
      } catch (error) {
        if (error instanceof BuckyError) return { peer, why: error.message };
        if (error instanceof ProtocolError)
          return { peer, why: `it sent a malformed answer: ${error.message}` };
        throw error;
      }
    }),
  ).finally(() => clearTimeout(timer));
  const asked: { device: string; head: number }[] = [];
  for (const answer of answers) {
    if (answer.head !== undefined) asked.push({ device: answer.peer.name, head: answer.head });
    else notAsked.push({ device: answer.peer.name, why: answer.why ?? "it did not answer" });
  }
  // Of a device proven to equivocate, no device takes what it signed from the fork on: what
  // a member holds past it (either history) cannot be pulled here, and is not waited for.
  // The revocation keeps what it signed before the fork, and drops both histories past it
  // on every device, so all agree at once. A fork at its first changeset keeps what this
  // device holds: a revocation keeping nothing of the device would drop, on every device,
  // the admissions it wrote (the zone's founding changeset, for its founder).
  const fork = zone.membership().byId.get(device.id)?.forkSeq ?? Number.POSITIVE_INFINITY;
  const seq = fork >= 2 ? Math.min(heldHere(), fork - 1) : heldHere();
  const beyond = asked.filter((answer) => Math.min(answer.head, fork - 1) > seq);
  if (beyond.length > 0) {
    const [most] = beyond.sort((a, b) => b.head - a.head);
    throw new BuckyError(
      "E_UNAVAILABLE",
      `${most?.device} holds ${device.name}'s changes up to #${most?.head}, and this device could fetch only up to #${seq} now: revoking here would drop the rest everywhere`,
      `Try again in a minute, once this device has caught up; if ${most?.device} keeps saying so, it may not be telling the truth: see \`bucky status\` (revoking it first lets this go ahead).`,
    );
  }
  const top = asked.filter((answer) => answer.head === seq && seq > before)[0];
  return { seq, from: top?.device ?? zone.deviceName, asked, notAsked };
}

function durationOf(ms: number): string {
  return ms >= 1000 ? `${Math.round(ms / 1000)} s` : `${ms} ms`;
}

function pause(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
