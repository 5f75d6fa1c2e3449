/**
 * How long the sync loop leaves a peer alone after a call failed: one that does not answer,
 * one that refuses (a 4xx: it does not take this device's requests, or not this one) and
 * one that fails them (a 5xx: its disk is full) alike. The wait doubles from the round's
 * interval up to a minute, each one drawn between half and the whole of it (jitter:
 * devices that failed together do not all come back in the same instant), and ends when
 * the peer answers. A peer that does not answer is also tried as soon as it is heard from
 * (it came back); one that refuses or fails is not, since it answered all along.
 */
import type { DeviceId } from "../../protocol/ids.ts";

/** The longest a failing peer waits between tries. */
export const MAX_BACKOFF_MS = 60_000;

/** Why a peer is being waited out. */
export type PeerTrouble =
  | { readonly kind: "unreachable"; readonly message: string }
  /** It failed the exchange on its side (a 5xx), or this device found its answer wrong: no refusal. */
  | { readonly kind: "failing"; readonly code: string; readonly message: string }
  | {
      readonly kind: "refusing";
      readonly code: string;
      readonly message: string;
      /** When it first refused, in this run of trouble (ms). */
      readonly sinceMs: number;
    };

interface Waiting {
  readonly trouble: PeerTrouble;
  /** When to try again. */
  readonly atMs: number;
  /** When it failed last. */
  readonly failedAtMs: number;
  /** The wait before jitter, which the next failure doubles. */
  readonly waitMs: number;
}

export class PeerBackoff {
  private readonly waiting = new Map<DeviceId, Waiting>();

  constructor(
    private readonly baseMs: number,
    /** A number in [0, 1): Math.random unless a test sets it. */
    private readonly random: () => number = Math.random,
  ) {}

  /**
   * Whether to call `peer` now: no trouble, its wait is over, or it called this device since
   * it failed and that ends the trouble: one not answering is back, and one that did not take
   * this device for a member (E_PERMISSION: a device that joined lately, before it heard of
   * it) calls only the members it knows. Any other refusal or failure waits its time out.
   */
  due(peer: DeviceId, nowMs: number, heardAtMs: number): boolean {
    const waiting = this.waiting.get(peer);
    if (!waiting) return true;
    if (nowMs >= waiting.atMs) return true;
    if (heardAtMs <= waiting.failedAtMs) return false;
    const { trouble } = waiting;
    return (
      trouble.kind === "unreachable" ||
      (trouble.kind === "refusing" && trouble.code === "E_PERMISSION")
    );
  }

  /**
   * A call to `peer` failed: waits it out longer. Returns the trouble it was in before
   * (undefined when none), so that the caller says only a change.
   */
  failed(peer: DeviceId, trouble: PeerTrouble, nowMs: number): PeerTrouble | undefined {
    const before = this.waiting.get(peer);
    const waitMs = Math.min(MAX_BACKOFF_MS, Math.max(this.baseMs, 2 * (before?.waitMs ?? 0)));
    const jittered = Math.ceil(waitMs * (0.5 + 0.5 * this.random()));
    // A refusal keeps the time it started while it goes on.
    const kept =
      trouble.kind === "refusing" && before?.trouble.kind === "refusing"
        ? { ...trouble, sinceMs: before.trouble.sinceMs }
        : trouble;
    this.waiting.set(peer, { trouble: kept, atMs: nowMs + jittered, failedAtMs: nowMs, waitMs });
    return before?.trouble;
  }

  /** A call to `peer` worked: no more waiting. Returns the trouble it was in, if any. */
  answered(peer: DeviceId): PeerTrouble | undefined {
    const before = this.waiting.get(peer);
    this.waiting.delete(peer);
    return before?.trouble;
  }

  /** The peers refusing now, with why. */
  refusing(): Map<DeviceId, Extract<PeerTrouble, { kind: "refusing" }>> {
    const out = new Map<DeviceId, Extract<PeerTrouble, { kind: "refusing" }>>();
    for (const [peer, waiting] of this.waiting)
      if (waiting.trouble.kind === "refusing") out.set(peer, waiting.trouble);
    return out;
  }
}
