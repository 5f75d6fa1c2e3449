/**
 * A worker thread that seals blobs (compress, encrypt) for the repository, so that while
 * it does, the main thread reads and cuts the next chunks. Listed as an entry point of
 * the build, as Bun's compiled binaries need for workers.
 */
import { sealBlob } from "./sealed.ts";

declare const self: Worker;

let key: Uint8Array | undefined;

self.onmessage = (event: MessageEvent) => {
  const message = event.data as
    | { key: Uint8Array }
    | { seq: number; id: string; plaintext: Uint8Array };
  if ("key" in message) {
    key = message.key;
    return;
  }
  if (!key) throw new Error("the seal worker got a blob before its key");
  const sealed = sealBlob({ encrypt: key }, message.id, message.plaintext);
  self.postMessage({ seq: message.seq, sealed }, [sealed.buffer as ArrayBuffer]);
};
