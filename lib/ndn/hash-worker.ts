/**
 * A worker thread that hashes chunks for lib/ndn/hash-workers.ts: each chunk's bytes come
 * moved, not copied, and go back the same way with their SHA-256. Listed as an entry point
 * of the build, as Bun's compiled binaries need for workers.
 */
import { createHash } from "node:crypto";

declare const self: Worker;

self.onmessage = (event: MessageEvent) => {
  const { seq, bytes } = event.data as { seq: number; bytes: Uint8Array };
  const digest = createHash("sha256").update(bytes).digest("hex");
  self.postMessage({ seq, digest, bytes }, [bytes.buffer as ArrayBuffer]);
};
