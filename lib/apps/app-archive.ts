/**
 * An app archive: a .tar or .tar.gz of an app's directory (or of one directory holding
 * it), as `bucky app install notes.tar.gz` or the panel sends it. It is unpacked by the
 * one bounded tar reader (lib/archive/tar-archive.ts) as it arrives, into the node's home
 * (never the temporary directory, which may be memory), within what an app's package may
 * be: a gzip bomb is refused once its files pass the largest package, and links, devices,
 * FIFOs, sparse files and paths out of it at their header. Nothing of it stays: its
 * directory is removed on a refusal and once the app is packed from it.
 */
import { randomBytes } from "node:crypto";
import { existsSync, rmSync } from "node:fs";
import { mkdir, readdir, rm } from "node:fs/promises";
import { join } from "node:path";
import { MANIFEST_FILE } from "../../protocol/app-manifest.ts";
import { MAX_PACKAGE_BYTES, MAX_PACKAGE_FILES } from "../../protocol/app-package.ts";
import { type ArchiveLimits, type ArchiveWords, unpackArchive } from "../archive/tar-archive.ts";
import { BuckyError } from "../errors.ts";

/**
 * An app archive's bounds: its files together, and any one of them, at most the largest
 * package; its entries at most three for each file a package may hold (the file, its
 * directory, and the header tar adds for a long name).
 */
export const APP_ARCHIVE_LIMITS: ArchiveLimits = {
  totalBytes: MAX_PACKAGE_BYTES,
  entries: 3 * MAX_PACKAGE_FILES,
  fileBytes: MAX_PACKAGE_BYTES,
};

/**
 * An app archive as uploaded, at most: the largest package, and room for each of its
 * files' tar header and padding and tar's closing blocks.
 */
export const MAX_APP_ARCHIVE_BYTES = MAX_PACKAGE_BYTES + (MAX_PACKAGE_FILES + 20) * 1024;

const APP_WORDS: ArchiveWords = {
  noun: "app archive",
  aNoun: "an app archive",
  dir: "the app's directory",
  choose: "Upload a .tar or .tar.gz of the app's directory.",
  compressed: "Install the app's directory itself, or pack it again with `tar -czf`.",
  repack:
    "Pack the app's directory with `tar -czf`, its links replaced by the files they point to (`tar -h`).",
  tooLarge: `Nothing was kept. An app's package is at most ${MAX_PACKAGE_BYTES / 1024 / 1024} MiB: leave out what the app does not need to run.`,
};

/** Where app archives are unpacked on this device, one at a time. */
export class AppArchives {
  private unpacking = false;

  constructor(private readonly uploadsDir: string) {
    // Whatever a previous daemon left unpacked is of no use now.
    rmSync(uploadsDir, { recursive: true, force: true });
  }

  /**
   * Unpacks `archive` (its bytes, or its chunks as they arrive) and gives `use` the app's
   * directory in it; nothing of it is left afterwards, whatever happens.
   */
  async with<T>(
    archive: Uint8Array | AsyncIterable<Uint8Array>,
    use: (dir: string) => T | Promise<T>,
  ): Promise<T> {
    if (this.unpacking)
      // Refused before a byte of the upload is read.
      throw new BuckyError(
        "E_UNAVAILABLE",
        "another app archive is being installed on this device",
        "Try again in a moment, once it is installed.",
      );
    this.unpacking = true;
    const dir = join(this.uploadsDir, `app-${randomBytes(8).toString("hex")}`);
    try {
      await mkdir(dir, { recursive: true, mode: 0o700 });
      await unpackArchive(archive, dir, APP_ARCHIVE_LIMITS, APP_WORDS);
      const entries = await readdir(dir);
      // The app's directory itself, or the one directory holding it.
      const root =
        entries.includes(MANIFEST_FILE) || entries.length !== 1
          ? dir
          : join(dir, entries[0] as string);
      if (!existsSync(join(root, MANIFEST_FILE)))
        throw new BuckyError(
          "E_INVALID_INPUT",
          `that app archive has no ${MANIFEST_FILE}, at its top or in its one directory`,
          "Pack the app's directory, the one with its manifest: `tar -czf app.tar.gz -C app .`.",
        );
      return await use(root);
    } finally {
      await rm(dir, { recursive: true, force: true });
      this.unpacking = false;
    }
  }
}
