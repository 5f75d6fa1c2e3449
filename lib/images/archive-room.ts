/**
 * The room an image from a file takes on the disk, held while it is read. Its blobs are
 * stored as they stream out of it (lib/images/blob-staging.ts), so it needs what it
 * unpacks to, once. A plain .tar unpacks to less than its size: that is reserved before a
 * byte is written, and the file refused when it is more than the room. A .tar.gz's size
 * says nothing of what it unpacks to: each file's size is reserved at its header, and the
 * archive refused there, before that file's bytes, when it is more than the room then.
 * What is written is taken off the reservation as it is (the disk's free space counts it
 * from then on), so an install holds only what it has yet to write: two at once fit where
 * both do, and each sees what the other holds.
 */
import type { Reservation } from "../disk/room.ts";
import { BuckyError } from "../errors.ts";
import { formatBytes } from "../units.ts";
import type { ImageStore } from "./image-store.ts";
import { imageRoom } from "./pull.ts";

const HINT =
  "Nothing was installed. Free some space (`bucky status --disk` shows where it goes), then install again.";

export class ArchiveRoom {
  /** What this install has read of the archive's files so far. */
  private readBytes = 0;

  private constructor(
    private readonly images: ImageStore,
    private readonly dir: string,
    private readonly file: string,
    private readonly gzipped: boolean,
    private readonly reservation: Reservation,
  ) {}

  /**
   * Measures the room on the disk of `dir` for the archive `file` of `sizeBytes` and holds
   * it (refusing a plain .tar that does not fit), in one step with no await: another
   * install measuring next counts this one's hold.
   */
  static hold(
    images: ImageStore,
    dir: string,
    file: string,
    sizeBytes: number,
    gzipped: boolean,
  ): ArchiveRoom {
    const room = imageRoom(images, dir);
    if (room !== undefined && !gzipped && sizeBytes > room.bytes)
      throw new BuckyError(
        "E_IO",
        `${file} does not fit on this device's disk: it unpacks to about its ${formatBytes(sizeBytes)}, and there is room for ${formatBytes(room.bytes)}${others(room.heldBytes, room.freeBytes)}`,
        HINT,
      );
    const reservation = images.room.reserve(room === undefined || gzipped ? 0 : sizeBytes);
    return new ArchiveRoom(images, dir, file, gzipped, reservation);
  }

  /**
   * At the header of a file of `sizeBytes` (`name`), before its bytes: a .tar.gz holds its
   * room now, or is refused when the disk has not that much.
   */
  entry(name: string, sizeBytes: number): void {
    this.readBytes += sizeBytes;
    if (!this.gzipped) return;
    const room = imageRoom(this.images, this.dir);
    if (room === undefined) return;
    // What this install holds is its own room: only what others hold is taken.
    const mine = this.reservation.bytes;
    const bytes = room.bytes + Math.min(mine, room.freeBytes);
    if (sizeBytes > bytes)
      throw new BuckyError(
        "E_IO",
        `${this.file} does not fit on this device's disk: it unpacks to at least ${formatBytes(this.readBytes)} (with ${name}, of ${formatBytes(sizeBytes)}), and there is room for ${formatBytes(this.readBytes - sizeBytes + bytes)}${others(room.heldBytes - mine, room.freeBytes)}`,
        HINT,
      );
    this.reservation.add(sizeBytes);
  }

  /** `bytes` of the archive's files are on the disk now (or were already). */
  wrote(bytes: number): void {
    this.reservation.wrote(bytes);
  }

  release(): void {
    this.reservation.release();
  }
}

function others(heldBytes: number, freeBytes: number): string {
  return heldBytes > 0
    ? ` (other installs under way hold ${formatBytes(Math.min(heldBytes, freeBytes))} of the free space)`
    : "";
}
