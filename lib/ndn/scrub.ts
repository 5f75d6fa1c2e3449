/**
 * The store's scrub: every so often it reads a share of what this device stores (chunk
 * lists, then chunks, in order of id, from where the round before ended, kept across
 * starts) and checks each against its id. A disk's bytes can rot, and a file can be changed
 * by hand, with nothing noticing until the copy is the one left that is needed; meanwhile
 * this device says it holds it, and every device counts it as a copy. A damaged object is
 * set aside (lib/ndn/store.ts): its keepers fetch it again from another device, and this
 * device no longer says it holds it until then. Every round ends with the keepers looking
 * again at what they keep (store.maybeLost), which is also how a file removed behind the
 * store's back is found, and fetched again.
 *
 * A round reads at most DEFAULT_SCRUB_BYTES_PER_ROUND, a chunk at a time, the event loop
 * turning between them: every ten minutes, about 36 GiB a day.
 */
import { readdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import type { ChunkId, ChunkListId } from "../../protocol/ndn.ts";
import { BuckyError } from "../errors.ts";
import type { Log } from "../log.ts";
import type { ObjectStore } from "./store.ts";

export const DEFAULT_SCRUB_EVERY_MS = 10 * 60_000;
export const DEFAULT_SCRUB_BYTES_PER_ROUND = 256 * 1024 * 1024;

/** Where the scrub is, beside the store: the last object a round checked (its key, below). */
const cursorPathOf = (store: ObjectStore) => `${store.root}-scrub-cursor`;

export interface ScrubOptions {
  readonly everyMs: number;
  readonly bytesPerRound: number;
}

/** What one round found. */
export interface ScrubRound {
  readonly checked: number;
  readonly bytes: number;
  readonly damaged: number;
}

export class StoreScrub {
  private timer: ReturnType<typeof setInterval> | undefined;
  private running: Promise<ScrubRound> | undefined;
  private stopped = false;

  constructor(
    private readonly store: ObjectStore,
    private readonly log: Log,
    private readonly options: ScrubOptions,
  ) {}

  start(): void {
    this.timer = setInterval(() => void this.round(), this.options.everyMs);
    this.timer.unref();
  }

  /** Stops, and waits for a round under way to end at its next object. */
  async stop(): Promise<void> {
    this.stopped = true;
    clearInterval(this.timer);
    await this.running;
  }

  /** One round; one already under way is not started again beside it. Never rejects. */
  round(): Promise<ScrubRound> {
    this.running ??= this.scrub()
      .catch((error: unknown) => {
        this.log.warn("the store's scrub stopped", {
          error: error instanceof Error ? error.message : String(error),
        });
        return { checked: 0, bytes: 0, damaged: 0 };
      })
      .finally(() => {
        this.running = undefined;
      });
    return this.running;
  }

  private async scrub(): Promise<ScrubRound> {
    const cursorPath = cursorPathOf(this.store);
    const after = readCursor(cursorPath);
    let checked = 0;
    let bytes = 0;
    let damaged = 0;
    let last = "";
    for (const object of objectsAfter(this.store.root, after)) {
      if (this.stopped || bytes >= this.options.bytesPerRound) break;
      try {
        bytes += object.check(this.store);
      } catch (error) {
        if (error instanceof BuckyError && error.code === "E_INTEGRITY") {
          damaged++;
          this.log.warn("stored object damaged: set aside, to be fetched again", {
            id: object.id,
            error: error.message,
          });
        } else {
          // A disk failing (EIO) is what a scrub is for finding: said, and the round goes
          // on. Thrown, it ended the daemon, again at every round.
          this.log.warn("stored object could not be read", {
            id: object.id,
            error: error instanceof Error ? error.message : String(error),
          });
        }
      }
      checked++;
      last = object.key;
      // The event loop turns between objects: a round reads up to hundreds of MiB.
      await new Promise((resolve) => setImmediate(resolve));
    }
    // Through to the end of the store, the next round starts from its beginning.
    const through = !this.stopped && bytes < this.options.bytesPerRound;
    try {
      writeFileSync(cursorPath, through ? "" : last);
    } catch {
      // A store not made yet, or a disk that takes nothing: the next round starts earlier.
    }
    this.store.maybeLost();
    return { checked, bytes, damaged };
  }
}

interface ScrubbedObject {
  /** Its place in the scrub's order: lists (`1/<hex>`) before chunks (`2/<hex>`). */
  readonly key: string;
  readonly id: ChunkId | ChunkListId;
  /** Reads and checks it (a damaged one is set aside, and thrown): the bytes read. */
  check(store: ObjectStore): number;
}

/** The store's objects in the scrub's order, from the first after `after`. */
function* objectsAfter(root: string, after: string): Generator<ScrubbedObject> {
  for (const hex of sortedNames(join(root, "lists"))) {
    const key = `1/${hex}`;
    if (key <= after || !HEX_DIGEST.test(hex)) continue;
    const id = `clist:${hex}` as ChunkListId;
    yield {
      key,
      id,
      check: (store) => {
        store.readList(id);
        return store.listBytes(id)?.length ?? 0;
      },
    };
  }
  const afterPrefix = after.startsWith("2/") ? after.slice(2, 4) : "";
  for (const prefix of sortedNames(join(root, "chunks"))) {
    if (prefix < afterPrefix) continue;
    for (const hex of sortedNames(join(root, "chunks", prefix))) {
      const key = `2/${hex}`;
      if (key <= after || !HEX_DIGEST.test(hex) || !hex.startsWith(prefix)) continue;
      const id = `sha256:${hex}` as ChunkId;
      yield { key, id, check: (store) => store.readChunk(id)?.length ?? 0 };
    }
  }
}

const HEX_DIGEST = /^[0-9a-f]{64}$/;

/** The last key a round checked; none (from the start) when not kept or not readable. */
function readCursor(path: string): string {
  try {
    return readFileSync(path, "utf8").trim();
  } catch {
    return "";
  }
}

function sortedNames(dir: string): string[] {
  try {
    return readdirSync(dir).sort();
  } catch {
    return [];
  }
}
