/**
 * Sealing blobs on worker threads: compressing and encrypting are most of a backup's
 * work, and a second core can do them while the first reads, cuts and hashes. Where no
 * worker can start, blobs are sealed on this thread, the same way.
 */
import { availableParallelism } from "node:os";
import { sealBlob } from "./sealed.ts";

export class SealPool {
  private readonly workers: Worker[] = [];
  private readonly waiting = new Map<
    number,
    { resolve: (sealed: Uint8Array) => void; reject: (error: unknown) => void }
  >();
  private seq = 0;
  private next = 0;

  constructor(
    private readonly key: Uint8Array,
    size = Math.max(1, Math.min(2, availableParallelism() - 1)),
  ) {
    for (let i = 0; i < size; i++) {
      let worker: Worker;
      try {
        worker = new Worker(new URL("./seal-worker.ts", import.meta.url));
      } catch {
        break;
      }
      worker.onmessage = (event: MessageEvent) => {
        const { seq, sealed } = event.data as { seq: number; sealed: Uint8Array };
        this.waiting.get(seq)?.resolve(sealed);
        this.waiting.delete(seq);
      };
      worker.onerror = (event) => {
        for (const { reject } of this.waiting.values())
          reject(new Error(`a seal worker failed: ${event.message}`));
        this.waiting.clear();
      };
      worker.postMessage({ key });
      this.workers.push(worker);
    }
  }

  /** The sealed blob. `plaintext` is copied first: the caller may reuse its buffer at once. */
  seal(id: string, plaintext: Uint8Array): Promise<Uint8Array> {
    const worker = this.workers[this.next++ % Math.max(1, this.workers.length)];
    if (!worker) return Promise.resolve(sealBlob({ encrypt: this.key }, id, plaintext));
    // A copy (Buffer.slice would not be one): its memory moves to the worker.
    const copy = new Uint8Array(plaintext);
    const seq = this.seq++;
    return new Promise((resolve, reject) => {
      this.waiting.set(seq, { resolve, reject });
      worker.postMessage({ seq, id, plaintext: copy }, [copy.buffer]);
    });
  }

  close(): void {
    for (const worker of this.workers) worker.terminate();
    this.workers.length = 0;
  }
}
