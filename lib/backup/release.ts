/**
 * Giving back the memory of bytes nobody will read again, at once. A backup moves its
 * data through buffers many times its size (each chunk copied to a sealing thread, sealed
 * into a new buffer, packed, written), and buffers handed between threads are not counted
 * towards when the garbage collector runs: left to it, a backup of 1 GiB held 1.5 GB.
 * Detaching the buffer (`transfer(0)`) frees it now. Only a buffer the bytes fill whole,
 * and that nothing else holds, may be released.
 */
export function release(bytes: Uint8Array): void {
  const buffer = bytes.buffer;
  if (
    buffer instanceof ArrayBuffer &&
    bytes.byteOffset === 0 &&
    bytes.byteLength === buffer.byteLength &&
    !buffer.detached
  )
    buffer.transfer(0);
}
