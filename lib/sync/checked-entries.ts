/**
 * Changesets as they arrive, decoded and, in bulk, their signatures checked before the
 * write lock is taken: each check starts on the runtime's crypto threads as soon as its
 * entry is decoded, so they run beside the decoding and on every core, rather than one at
 * a time inside the transaction. Which signatures verified is all this records:
 * ingestEntries checks any other as it always did, so no entry is applied unchecked.
 */
import {
  type DecodedChangeset,
  decodeChangeset,
  signingInputOf,
} from "../../protocol/changeset.ts";
import { type VerifyKey, verifyKeyFromPublicKey } from "../../protocol/ed25519.ts";
import { ProtocolError } from "../../protocol/errors.ts";
import { publicKeyOfId, type ZoneId } from "../../protocol/ids.ts";
import type { Rejection } from "./ingest.ts";

/** Fewer changesets than this are checked in the transaction: a batch would only add a hop. */
const BATCH_MIN = 8;

export class CheckedEntries {
  /** How many changesets' checks are known to be done (checkedUpTo waited for them). */
  private done = 0;
  /** What checkedUpTo waits for: its checks still running, and whom to tell when none are. */
  private waiter: { count: number; running: number; resolve: () => void } | undefined;

  private constructor(
    /** The entries that decoded and belong to the zone, in the order they came. */
    readonly changesets: readonly DecodedChangeset[],
    /** The entries refused already, and why. */
    readonly rejected: readonly Rejection[],
    /** The changesets whose signatures verified so far (checks still running add to it). */
    private readonly verified: Set<DecodedChangeset>,
    /**
     * Per changeset, by its index: 0 when no check was started (none is made for one
     * held already, or without a usable key), 1 while its check runs, 2 once it is done.
     */
    private readonly checks: Uint8Array,
    /** How many checks were started. */
    readonly started: number,
  ) {}

  /** Decodes `entries`; no signature is checked yet. */
  static decode(entries: readonly Uint8Array[], zone: ZoneId): CheckedEntries {
    const { changesets, rejected } = decodeAll(entries, zone, () => {});
    return new CheckedEntries(changesets, rejected, new Set(), new Uint8Array(0), 0);
  }

  /**
   * Decodes `entries` and starts checking their signatures, each on the worker threads as
   * soon as it is decoded; `checkedUpTo` waits for them. A changeset at or below
   * `heldSeq(author)` (the last seq of its author held here) is not checked: ingest
   * finds it is the one held (nothing is written, so its signature need not be checked)
   * or a different one with that seq, whose signature it then checks itself.
   */
  static start(
    entries: readonly Uint8Array[],
    zone: ZoneId,
    heldSeq: (author: string) => number = () => 0,
  ): CheckedEntries {
    if (entries.length < BATCH_MIN) return CheckedEntries.decode(entries, zone);
    const keys = new Map<string, VerifyKey | null>();
    const verified = new Set<DecodedChangeset>();
    // At most one per entry; a check's answer may come before the page is all decoded.
    const checks = new Uint8Array(entries.length);
    let started = 0;
    let checked: CheckedEntries | undefined;
    const answered: [DecodedChangeset, number, boolean][] = [];
    const { changesets, rejected } = decodeAll(entries, zone, (changeset, index) => {
      if (changeset.seq <= heldSeq(changeset.author)) return;
      const key = keyOf(keys, changeset.author);
      if (!key) return;
      checks[index] = RUNNING;
      started++;
      key.verifyOffThread(signingInputOf(changeset), changeset.signature, (good) => {
        if (checked) checked.answer(changeset, index, good);
        else answered.push([changeset, index, good]);
      });
    });
    checked = new CheckedEntries(changesets, rejected, verified, checks, started);
    for (const [changeset, index, good] of answered) checked.answer(changeset, index, good);
    return checked;
  }

  /** Decodes `entries` and checks their signatures, all at once. */
  static async verify(entries: readonly Uint8Array[], zone: ZoneId): Promise<CheckedEntries> {
    const checked = CheckedEntries.start(entries, zone);
    await checked.checkedUpTo(checked.changesets.length);
    return checked;
  }

  /**
   * Waits until the checks of the first `count` changesets are done. Only those not
   * waited for before are waited for: a page asks batch after batch, one at a time.
   */
  async checkedUpTo(count: number): Promise<void> {
    if (count <= this.done) return;
    if (this.waiter) throw new Error("checkedUpTo is waited on one batch at a time");
    let running = 0;
    const end = Math.min(count, this.checks.length);
    for (let i = this.done; i < end; i++) if (this.checks[i] === RUNNING) running++;
    if (running > 0)
      await new Promise<void>((resolve) => {
        this.waiter = { count, running, resolve };
      });
    this.done = Math.max(this.done, count);
  }

  /**
   * Whether this changeset's signature was checked, and verified, by its author's key.
   * False for one not checked (yet): ingest then checks it itself, so none is applied
   * unchecked whatever the timing.
   */
  signatureVerified(changeset: DecodedChangeset): boolean {
    return this.verified.has(changeset);
  }

  /** A check's answer. */
  private answer(changeset: DecodedChangeset, index: number, good: boolean): void {
    this.checks[index] = DONE;
    if (good) this.verified.add(changeset);
    const waiter = this.waiter;
    if (waiter && index < waiter.count && --waiter.running === 0) {
      this.waiter = undefined;
      waiter.resolve();
    }
  }
}

const RUNNING = 1;
const DONE = 2;

function decodeAll(
  entries: readonly Uint8Array[],
  zone: ZoneId,
  decoded: (changeset: DecodedChangeset, index: number) => void,
): { changesets: DecodedChangeset[]; rejected: Rejection[] } {
  const changesets: DecodedChangeset[] = [];
  const rejected: Rejection[] = [];
  for (const entry of entries) {
    try {
      const changeset = decodeChangeset(entry);
      if (changeset.zone !== zone) {
        rejected.push({
          author: changeset.author,
          seq: changeset.seq,
          reason: "it belongs to another zone",
        });
        continue;
      }
      changesets.push(changeset);
      decoded(changeset, changesets.length - 1);
    } catch (error) {
      if (!(error instanceof ProtocolError)) throw error;
      rejected.push({ reason: `malformed: ${error.message}` });
    }
  }
  return { changesets, rejected };
}

/** The author's key, or undefined when its id names no usable key (ingest then says why). */
function keyOf(keys: Map<string, VerifyKey | null>, author: string): VerifyKey | undefined {
  let key = keys.get(author);
  if (key === undefined) {
    try {
      key = verifyKeyFromPublicKey(publicKeyOfId(author, "device") as Uint8Array);
    } catch (error) {
      if (!(error instanceof ProtocolError)) throw error;
      key = null;
    }
    keys.set(author, key);
  }
  return key ?? undefined;
}
