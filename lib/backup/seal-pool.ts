/**
 * Naming and sealing blobs on worker threads: hashing, compressing and encrypting are
 * most of a backup's work, and the other cores can do them while the main thread reads
 * and cuts. A blob goes to a worker once; the worker names it, keeps it, and seals it
 * only if the repository lacks it (or drops it). Where no worker can start, the same is
 * done on this thread.
 */
import { availableParallelism } from "node:os";
import { blobId, type RepositoryKeys } from "../../protocol/backup/keys.ts";
import { sealBlob } from "./sealed.ts";

/**
 * The worker's module. The compiled binary holds it as an entry point of its own, named
 * from the root of the build (the Justfile's `build`) beside the chunk this code is in; run
 * from sources, it sits beside this file. Always a URL: a bare relative name that the
 * binary did not hold would be looked for in the current directory, which could run
 * anyone's code there.
 */
const SEAL_WORKER = import.meta.url.startsWith("file:///$bunfs/")
  ? new URL("./lib/backup/seal-worker.js", import.meta.url)
  : new URL("./seal-worker.ts", import.meta.url);

/** What the pool asks of a worker (lib/backup/seal-worker.ts). */
export type PoolRequest =
  | { op: "keys"; keys: Pick<RepositoryKeys, "encrypt" | "id"> }
  | { op: "hash"; seq: number; plaintext: Uint8Array }
  | { op: "seal"; seq: number; id: string }
  | { op: "drop"; seq: number };

/** A blob handed to the pool: its id, and the ticket to seal or drop it by. */
export interface HashedBlob {
  readonly id: string;
  readonly ticket: number;
}

export class SealPool {
  private readonly workers: Worker[] = [];
  private readonly waiting = new Map<
    number,
    { resolve: (value: unknown) => void; reject: (error: unknown) => void }
  >();
  /** Which worker holds each blob, by ticket. */
  private readonly holder = new Map<number, Worker>();
  /** Blobs held on this thread, when there are no workers. */
  private readonly local = new Map<number, Uint8Array>();
  private seq = 0;
  private next = 0;
  /** Set once a worker failed: what it held is lost, so the pool takes no more work. */
  private failure: Error | undefined;

  constructor(
    private readonly keys: Pick<RepositoryKeys, "encrypt" | "id">,
    size = Math.max(1, Math.min(2, availableParallelism() - 1)),
  ) {
    for (let i = 0; i < size; i++) {
      let worker: Worker;
      try {
        worker = new Worker(SEAL_WORKER);
      } catch {
        break;
      }
      worker.onmessage = (event: MessageEvent) => {
        const { seq, ...answer } = event.data as { seq: number; id?: string; sealed?: Uint8Array };
        this.waiting.get(seq)?.resolve(answer.id ?? answer.sealed);
        this.waiting.delete(seq);
      };
      worker.onerror = (event) => {
        this.failure ??= new Error(`a seal worker failed: ${event.message}`);
        for (const { reject } of this.waiting.values()) reject(this.failure);
        this.waiting.clear();
      };
      worker.postMessage({ op: "keys", keys } satisfies PoolRequest);
      this.workers.push(worker);
    }
  }

  /** Names a blob. `plaintext` is copied first: the caller may reuse its buffer at once. */
  async hash(plaintext: Uint8Array): Promise<HashedBlob> {
    const ticket = this.seq++;
    // A copy (Buffer.slice would not be one): its memory moves to the worker.
    const copy = new Uint8Array(plaintext);
    const worker = this.workers[this.next++ % Math.max(1, this.workers.length)];
    if (!worker) {
      this.local.set(ticket, copy);
      return { id: blobId(this.keys, copy), ticket };
    }
    this.holder.set(ticket, worker);
    const id = (await this.ask(worker, ticket, {
      op: "hash",
      seq: ticket,
      plaintext: copy,
    })) as string;
    return { id, ticket };
  }

  /** Seals a blob named by hash(), compressed if that helps, and lets it go. */
  async seal(blob: HashedBlob): Promise<Uint8Array> {
    const worker = this.holder.get(blob.ticket);
    this.holder.delete(blob.ticket);
    if (!worker) {
      const plaintext = this.local.get(blob.ticket);
      this.local.delete(blob.ticket);
      if (!plaintext) throw new Error(`the seal pool holds no blob ${blob.ticket}`);
      return sealBlob(this.keys, blob.id, plaintext);
    }
    return (await this.ask(worker, blob.ticket, {
      op: "seal",
      seq: blob.ticket,
      id: blob.id,
    })) as Uint8Array;
  }

  /** Lets a blob go unsealed: the repository has it already. */
  drop(blob: HashedBlob): void {
    const worker = this.holder.get(blob.ticket);
    this.holder.delete(blob.ticket);
    this.local.delete(blob.ticket);
    worker?.postMessage({ op: "drop", seq: blob.ticket } satisfies PoolRequest);
  }

  close(): void {
    for (const worker of this.workers) worker.terminate();
    this.workers.length = 0;
    this.holder.clear();
    this.local.clear();
  }

  private ask(worker: Worker, seq: number, request: PoolRequest): Promise<unknown> {
    if (this.failure) return Promise.reject(this.failure);
    return new Promise((resolve, reject) => {
      this.waiting.set(seq, { resolve, reject });
      if (request.op === "hash")
        worker.postMessage(request, [request.plaintext.buffer as ArrayBuffer]);
      else worker.postMessage(request);
    });
  }
}
