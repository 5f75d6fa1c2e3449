/**
 * Room on the disk promised to work under way in this process: what an install will still
 * write is reserved while it runs, so that two at once do not both count the same free
 * space (each measures the disk before the other has written). The count is of what each
 * will write in all, so what it has already written is counted twice (in the disk's free
 * space too) until it ends: it errs towards refusing, never towards a full disk.
 */
export class RoomReservations {
  private readonly held = new Set<{ readonly bytes: number }>();

  /** What the work under way has reserved, in all. */
  reservedBytes(): number {
    let sum = 0;
    for (const reservation of this.held) sum += reservation.bytes;
    return sum;
  }

  /** Reserves `bytes` until the returned function is called (once or more). */
  reserve(bytes: number): () => void {
    const reservation = { bytes };
    this.held.add(reservation);
    return () => {
      this.held.delete(reservation);
    };
  }
}
