/**
 * A worker thread that names and seals blobs for the repository, so that while it does,
 * the main thread reads and cuts the next chunks. A blob is hashed first and kept here
 * until the repository, which alone knows what it holds, says to seal it or drop it.
 * Listed as an entry point of the build, as Bun's compiled binaries need for workers.
 */
import { blobId, type RepositoryKeys } from "../../protocol/backup/keys.ts";
import { release } from "./release.ts";
import type { PoolRequest } from "./seal-pool.ts";
import { sealBlob } from "./sealed.ts";

declare const self: Worker;

let keys: Pick<RepositoryKeys, "encrypt" | "id"> | undefined;
const held = new Map<number, Uint8Array>();

self.onmessage = (event: MessageEvent) => {
  const message = event.data as PoolRequest;
  if (message.op === "keys") {
    keys = message.keys;
    return;
  }
  if (!keys) throw new Error("the seal worker got a blob before its keys");
  if (message.op === "hash") {
    held.set(message.seq, message.plaintext);
    self.postMessage({ seq: message.seq, id: blobId(keys, message.plaintext) });
  } else if (message.op === "seal") {
    const plaintext = held.get(message.seq);
    held.delete(message.seq);
    if (!plaintext) throw new Error(`the seal worker holds no blob ${message.seq}`);
    const sealed = sealBlob(keys, message.id, plaintext);
    self.postMessage({ seq: message.seq, sealed }, [sealed.buffer as ArrayBuffer]);
    // Its own copy, sent here whole: nothing else holds it.
    release(plaintext);
  } else {
    const plaintext = held.get(message.seq);
    held.delete(message.seq);
    if (plaintext) release(plaintext);
  }
};
