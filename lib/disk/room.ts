/**
 * Room on the disk promised to work under way in this process: what an install will still
 * write is reserved while it runs, so that two at once do not both count the same free
 * space (each measures the disk before the other has written). A reservation is of what
 * its work has yet to write: as bytes are written (and so taken from the disk's free
 * space) they are taken from it, so nothing is counted twice; work that cannot say what it
 * has written keeps all of it until it ends, and errs towards refusing, never towards a
 * full disk.
 */
export class RoomReservations {
  private readonly held = new Set<Reservation>();

  /** What the work under way has reserved, in all. */
  reservedBytes(): number {
    let sum = 0;
    for (const reservation of this.held) sum += reservation.bytes;
    return sum;
  }

  /** Reserves `bytes` until the reservation is released (once or more). */
  reserve(bytes: number): Reservation {
    const reservation = new Reservation(bytes, (r) => this.held.delete(r));
    this.held.add(reservation);
    return reservation;
  }
}

/** Room held for one piece of work: what it may still write. */
export class Reservation {
  constructor(
    private held: number,
    private readonly onRelease: (reservation: Reservation) => void,
  ) {}

  /** What is held now. */
  get bytes(): number {
    return this.held;
  }

  /** Holds `bytes` more (the work found it will write them). */
  add(bytes: number): void {
    this.held += bytes;
  }

  /** Holds `bytes` less: they are written (the disk counts them now), or never will be. */
  wrote(bytes: number): void {
    this.held = Math.max(0, this.held - bytes);
  }

  /** Gives the room back (the work ended). */
  release(): void {
    this.held = 0;
    this.onRelease(this);
  }
}
