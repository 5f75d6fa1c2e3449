/**
 * Hashing chunks on worker threads while the main thread receives the next ones. A chunk's
 * bytes move to a worker and back without a copy; WebCrypto's digest, the other way off
 * the main thread, copies them first on it (2-4 ms for each 4 MiB chunk, measured), and
 * in line the hashing itself held the main thread (0.9 ms a MiB). A worker that stops
 * fails every chunk it held and every one after: the fetch fails, nothing half-checked is
 * used. Where no worker can start at all, chunks are hashed in line, as before.
 */
import { availableParallelism } from "node:os";
import { type ChunkId, digestOf, isChunk } from "../../protocol/ndn.ts";

/**
 * The worker's module: in the compiled binary an entry point of its own, named from the
 * root of the build (the Justfile's `build`); from sources, beside this file. Always a
 * URL, never a bare name that would be looked for in the current directory.
 */
const HASH_WORKER = import.meta.url.startsWith("file:///$bunfs/")
  ? new URL("./lib/ndn/hash-worker.js", import.meta.url)
  : new URL("./hash-worker.ts", import.meta.url);

/** Below this a chunk is hashed here: moving it would cost more than hashing it. */
const MOVE_AT_LEAST = 256 * 1024;

export class HashWorkers {
  private readonly workers: Worker[] = [];
  private readonly waiting = new Map<
    number,
    {
      resolve: (answer: { digest: string; bytes: Uint8Array }) => void;
      reject: (error: Error) => void;
    }
  >();
  private seq = 0;
  private failure: Error | undefined;
  /** False once a first worker could not be started. */
  private startable = true;

  constructor(
    private readonly url: URL = HASH_WORKER,
    private readonly size = Math.max(1, Math.min(2, availableParallelism())),
  ) {}

  /**
   * The bytes of chunk `id` when `bytes` hash to it, else undefined. `bytes` are the
   * caller's to give away: a chunk that fills its own buffer moves to a worker and comes
   * back as a new view, the old one emptied.
   */
  async check(id: ChunkId, bytes: Uint8Array): Promise<Uint8Array | undefined> {
    if (bytes.length < MOVE_AT_LEAST || !this.startable)
      return isChunk(id, bytes) ? bytes : undefined;
    const whole =
      bytes.byteOffset === 0 &&
      bytes.byteLength === bytes.buffer.byteLength &&
      bytes.buffer instanceof ArrayBuffer
        ? bytes
        : new Uint8Array(bytes);
    const worker = this.worker();
    if (!worker) return isChunk(id, bytes) ? bytes : undefined;
    const answer = await this.ask(worker, whole);
    return answer.digest === digestOf(id) ? answer.bytes : undefined;
  }

  /** Stops the workers; a check under way fails. */
  close(): void {
    this.fail(new Error("the hashing workers were stopped"));
    for (const worker of this.workers) worker.terminate();
    this.workers.length = 0;
  }

  private ask(worker: Worker, bytes: Uint8Array): Promise<{ digest: string; bytes: Uint8Array }> {
    if (this.failure) return Promise.reject(this.failure);
    const seq = this.seq++;
    return new Promise((resolve, reject) => {
      this.waiting.set(seq, { resolve, reject });
      worker.postMessage({ seq, bytes }, [bytes.buffer as ArrayBuffer]);
    });
  }

  /** The next worker in turn, started if there are fewer than `size`; none if none can start. */
  private worker(): Worker | undefined {
    if (this.workers.length < this.size) {
      let worker: Worker;
      try {
        worker = new Worker(this.url);
      } catch {
        if (this.workers.length > 0) return this.workers[this.seq % this.workers.length];
        this.startable = false;
        return undefined;
      }
      worker.onmessage = (event: MessageEvent) => {
        const { seq, digest, bytes } = event.data as {
          seq: number;
          digest: string;
          bytes: Uint8Array;
        };
        this.waiting.get(seq)?.resolve({ digest, bytes });
        this.waiting.delete(seq);
      };
      worker.onerror = (event) => this.fail(new Error(`a hashing worker failed: ${event.message}`));
      worker.addEventListener("close", () => this.fail(new Error("a hashing worker stopped")));
      this.workers.push(worker);
      return worker;
    }
    return this.workers[this.seq % this.workers.length];
  }

  private fail(error: Error): void {
    this.failure ??= error;
    for (const { reject } of this.waiting.values()) reject(this.failure);
    this.waiting.clear();
  }
}
