/**
 * A catalog file is unpacked as plain files and directories within its bounds, without
 * holding the event loop: a gzip bomb, too many entries, a file larger than any a catalog
 * holds, a path out of it, links, devices, FIFOs and sparse files are refused, and
 * nothing of a refused file is left.
 */
import { afterAll, describe, expect, test } from "bun:test";
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { gzipBomb, refusal, tar, tarHeader } from "../archive/test-archives.ts";
import { BuckyError } from "../errors.ts";
import {
  type ArchiveLimits,
  CATALOG_ARCHIVE_LIMITS,
  unpackCatalogArchive,
} from "./catalog-archive.ts";
import { CatalogStaging } from "./catalogs.ts";

const scratch = mkdtempSync(join(tmpdir(), "bucky-catalog-archive-"));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

/** `bytes` as chunks of `size`. */
async function* pieces(bytes: Uint8Array, size: number): AsyncGenerator<Uint8Array> {
  for (let at = 0; at < bytes.length; at += size) yield bytes.subarray(at, at + size);
}

/** `first`, then `more()` for ever, noting how many were pulled and whether they were stopped. */
function counted(first: Uint8Array, more: () => Uint8Array) {
  let pulled = 0;
  let stopped = false;
  async function* chunks(): AsyncGenerator<Uint8Array> {
    try {
      pulled++;
      yield first;
      for (;;) {
        pulled++;
        yield more();
      }
    } finally {
      stopped = true;
    }
  }
  return { chunks: chunks(), pulled: () => pulled, stopped: () => stopped };
}

let made = 0;
function target(): string {
  const dir = join(scratch, `t-${++made}`);
  mkdirSync(dir);
  return dir;
}

describe("a catalog file", () => {
  test("as GNU tar packs a directory, .tar or .tar.gz: unpacked as it was", async () => {
    const source = target();
    mkdirSync(join(source, "cat", "ndn"), { recursive: true });
    writeFileSync(join(source, "cat", "catalog.jws"), "index");
    writeFileSync(join(source, "cat", "ndn", `sha256:${"a".repeat(64)}`), "x".repeat(70_000));
    for (const flags of ["-cf", "-czf"]) {
      const file = join(source, `cat${flags}`);
      expect(Bun.spawnSync(["tar", flags, file, "-C", source, "cat"]).exitCode).toBe(0);
      const into = target();
      await unpackCatalogArchive(new Uint8Array(readFileSync(file)), into);
      expect(readFileSync(join(into, "cat", "catalog.jws"), "utf8")).toBe("index");
      expect(readFileSync(join(into, "cat", "ndn", `sha256:${"a".repeat(64)}`), "utf8")).toBe(
        "x".repeat(70_000),
      );
    }
  });

  test("given as chunks as they arrive, however split, .tar or .tar.gz: unpacked as it was", async () => {
    const plain = tar([
      ["cat/", "", "5"],
      ["cat/catalog.jws", "index"],
    ]);
    for (const bytes of [plain, new Uint8Array(Bun.gzipSync(plain as Uint8Array<ArrayBuffer>))])
      for (const size of [1, 5, 7, 512, 100_000]) {
        const into = target();
        await unpackCatalogArchive(pieces(bytes, size), into);
        expect(readFileSync(join(into, "cat", "catalog.jws"), "utf8")).toBe("index");
      }
  });

  test("given as chunks, a refusal stops them, and their own refusal comes through as it is, gzip or not", async () => {
    // A link first: refused at its header, while the chunks would go on for ever.
    const endless = counted(
      tar([["cat/l", "/etc/passwd", "2"]]).subarray(0, 512),
      () => new Uint8Array(512),
    );
    expect(await refusal(unpackCatalogArchive(endless.chunks, target()))).toStartWith(
      "E_INVALID_INPUT: that catalog file holds cat/l, a symbolic link",
    );
    expect({ stopped: endless.stopped(), pulled: endless.pulled() < 10 }).toEqual({
      stopped: true,
      pulled: true,
    });
    // The upload's own bound, met partway, .tar and .tar.gz alike.
    const plain = tar([["cat/catalog.jws", "x".repeat(100_000)]]);
    for (const bytes of [plain, new Uint8Array(Bun.gzipSync(plain as Uint8Array<ArrayBuffer>))]) {
      async function* cut() {
        yield bytes.subarray(0, 600);
        throw new BuckyError("E_TOO_LARGE", "a catalog file is over 600 bytes");
      }
      expect(await refusal(unpackCatalogArchive(cut(), target()))).toBe(
        "E_TOO_LARGE: a catalog file is over 600 bytes",
      );
    }
  });

  test("a gzip bomb is refused once its files pass the bound, with nothing left, and the event loop turns meanwhile", async () => {
    const uploads = join(scratch, "uploads-bomb");
    const limits: ArchiveLimits = { ...CATALOG_ARCHIVE_LIMITS, totalBytes: 64 * 1024 * 1024 };
    const staging = new CatalogStaging(uploads, Date.now, limits);
    // 1 GiB of zeros in 4 MiB files, about a megabyte packed.
    const bomb = gzipBomb(256, 4 * 1024 * 1024);
    expect(bomb.length).toBeLessThan(2 * 1024 * 1024);
    let settled = false;
    const unpacking = staging.unpack(bomb).finally(() => {
      settled = true;
    });
    // A timer that fires while files are being written proves the loop was free: a
    // synchronous unpack would let it run only once everything was over.
    const seenMidway = await new Promise<number>((resolve) => {
      const look = () => {
        const written = unpackedFiles(uploads);
        if (settled) resolve(-1);
        else if (written > 0) resolve(written);
        else setTimeout(look, 1);
      };
      setTimeout(look, 1);
    });
    expect(seenMidway).toBeGreaterThan(0);
    expect(await refusal(unpacking)).toBe(
      `E_INVALID_INPUT: that catalog file holds more than ${64 * 1024 * 1024} bytes of files: a catalog file unpacks to at most ${64 * 1024 * 1024} bytes, 10000 entries, and ${CATALOG_ARCHIVE_LIMITS.fileBytes} bytes a file (totalBytes)`,
    );
    expect(readdirSync(uploads)).toEqual([]);
  });

  test("too many entries, or one file larger than any a catalog holds, is refused at its header", async () => {
    const limits: ArchiveLimits = { totalBytes: 1024 * 1024, entries: 3, fileBytes: 1000 };
    const many = tar([
      ["a", "1"],
      ["b", "2"],
      ["c", "3"],
      ["d", "4"],
    ]);
    expect(await refusal(unpackCatalogArchive(many, target(), limits))).toStartWith(
      "E_INVALID_INPUT: that catalog file holds more than 3 entries",
    );
    // Its header claims 1 GiB; not one byte of it is read.
    const big = new Uint8Array(Buffer.concat([tarHeader("big", 1024 ** 3), new Uint8Array(512)]));
    const into = target();
    expect(await refusal(unpackCatalogArchive(big, into, limits))).toStartWith(
      `E_INVALID_INPUT: that catalog file holds big, of ${1024 ** 3} bytes`,
    );
    expect(existsSync(join(into, "big"))).toBe(false);
  });

  test("a directory whose header claims bytes counts them against the bound, unread", async () => {
    const limits: ArchiveLimits = { totalBytes: 1024 * 1024, entries: 3, fileBytes: 1000 };
    // A directory's bytes are skipped, not written: a .tar.gz claiming gigabytes of them
    // (terabytes, in a pax size) would have them all decompressed, no bound ever passed.
    const dir = new Uint8Array(
      Buffer.concat([tarHeader("d/", 4 * 1024 ** 3, "5"), new Uint8Array(512)]),
    );
    expect(await refusal(unpackCatalogArchive(dir, target(), limits))).toStartWith(
      `E_INVALID_INPUT: that catalog file holds d/, of ${4 * 1024 ** 3} bytes`,
    );
  });

  test("links, devices, FIFOs and paths out of it are refused, nothing written outside", async () => {
    const into = target();
    for (const [entry, says] of [
      [["catalog.jws", "/etc/passwd", "2"], "catalog.jws, a symbolic link"],
      [["catalog.jws", "/etc/passwd", "1"], "catalog.jws, a hard link"],
      [["catalog.jws", "", "3"], "catalog.jws, a character device"],
      [["catalog.jws", "", "4"], "catalog.jws, a block device"],
      [["catalog.jws", "", "6"], "catalog.jws, a FIFO"],
      [["catalog.jws", "", "S"], "catalog.jws, a sparse file"],
      [["../escaped", "x"], '"../escaped", a path outside'],
      [["ndn/../../escaped", "x"], '"ndn/../../escaped", a path outside'],
      [[join(scratch, "escaped"), "x"], "a path outside"],
    ] as [[string, string, string?], string][])
      expect(
        await refusal(unpackCatalogArchive(tar([entry]), into, CATALOG_ARCHIVE_LIMITS)),
      ).toContain(says);
    expect(existsSync(join(scratch, "escaped"))).toBe(false);
    expect(readdirSync(into)).toEqual([]);
  });

  test("a name held twice, or bytes that are not a tar, are refused", async () => {
    expect(
      await refusal(
        unpackCatalogArchive(
          tar([
            ["a", "1"],
            ["a", "2"],
          ]),
          target(),
        ),
      ),
    ).toContain("it holds a twice");
    // A directory where a file of the same archive is: refused as the file again would be.
    expect(
      await refusal(
        unpackCatalogArchive(
          tar([
            ["a", "1"],
            ["a/", "", "5"],
          ]),
          target(),
        ),
      ),
    ).toContain("it holds a/ twice");
    expect(
      await refusal(
        unpackCatalogArchive(
          tar([
            ["a", "1"],
            ["a/b/", "", "5"],
          ]),
          target(),
        ),
      ),
    ).toContain("a/b/ is under a file of the same archive");
    // A record counts its own length: "310", a space, "path=", 300 bytes and a newline.
    const pax = `310 path=${"n".repeat(300)}\n`;
    expect(
      await refusal(
        unpackCatalogArchive(
          tar([
            ["pax", pax, "x"],
            ["short", "1"],
          ]),
          target(),
        ),
      ),
    ).toContain("a name this system cannot write (ENAMETOOLONG)");
    expect(await refusal(unpackCatalogArchive(new Uint8Array(2048).fill(7), target()))).toContain(
      "checksum does not match",
    );
    expect(
      await refusal(unpackCatalogArchive(Uint8Array.from([0x1f, 0x8b, 1, 2, 3]), target())),
    ).toContain("not a whole .tar.gz");
    expect(
      await refusal(unpackCatalogArchive(Uint8Array.from([0x28, 0xb5, 0x2f, 0xfd, 0]), target())),
    ).toContain("compressed with zstd");
  });
});

/** The files under `dir`, at any depth. */
function unpackedFiles(dir: string): number {
  if (!existsSync(dir)) return 0;
  return readdirSync(dir, { recursive: true, withFileTypes: true }).filter((e) => e.isFile())
    .length;
}

describe("catalog files staged", () => {
  test("one is read at a time, and only the two latest stay unpacked", async () => {
    const uploads = join(scratch, "uploads-staged");
    const staging = new CatalogStaging(uploads, Date.now);
    const catalogFile = () => tar([["catalog.jws", "an index"]]);
    const reading = staging.unpack(catalogFile());
    expect(await refusal(staging.unpack(catalogFile()))).toBe(
      "E_UNAVAILABLE: another catalog file is being read on this device",
    );
    const first = await reading;
    const tokens = [first.unpacked];
    for (let i = 0; i < 2; i++) tokens.push((await staging.unpack(catalogFile())).unpacked);
    const staged = tokens.map((unpacked) =>
      staging.add({ catalog: {} as never, source: { kind: "dir", dir: unpacked }, unpacked }),
    );
    expect(staged.length).toBe(3);
    expect(tokens.map((dir) => existsSync(dir))).toEqual([false, true, true]);
  });

  test("one without a catalog.jws is refused as the file sent, with nothing left", async () => {
    const uploads = join(scratch, "uploads-no-index");
    const staging = new CatalogStaging(uploads, Date.now);
    const refused = await refusal(staging.unpack(tar([["apps/notes.json", "{}"]])));
    expect(refused).toBe(
      "E_INVALID_INPUT: that catalog file has no catalog.jws, at its top or in its one directory",
    );
    expect(readdirSync(uploads)).toEqual([]);
  });
});
