/** A hashing worker that fails at its first chunk, for lib/ndn/fetch.test.ts. */
declare const self: Worker;

self.onmessage = () => {
  throw new Error("this worker fails");
};
