/**
 * An image from a file, read by the one bounded tar reader: a Docker archive as .tar and
 * .tar.gz is stored with its layers checked; a hostile one (a link, a path out, a sparse
 * file, a gzip bomb, a layer altered) is refused with nothing kept, neither unpacked nor
 * stored, and one that would not fit on the disk is refused as such (E_IO) before its bytes
 * are written. Its blobs are stored as they are read, so an image needs its size free once,
 * and two installs at once fit where both do. Real archives of `podman save` (both formats)
 * are installed end to end in test/images.test.ts, and one killed half-way in
 * test/image-file.test.ts.
 */
import { afterAll, describe, expect, test } from "bun:test";
import { spawnSync } from "node:child_process";
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  rmSync,
  truncateSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { gzipSync } from "node:zlib";
import type { Platform } from "../../protocol/oci.ts";
import type { ArchiveLimits } from "../archive/tar-archive.ts";
import { gzipBomb, refusal, tar, tarHeader } from "../archive/test-archives.ts";
import { ObjectStore } from "../ndn/store.ts";
import { formatBytes } from "../units.ts";
import { readImageArchive } from "./archive.ts";
import { ImageStore } from "./image-store.ts";
import { imageRoom } from "./pull.ts";
import { digestOf, ociArchive } from "./test-images.ts";

const root = mkdtempSync(join(tmpdir(), "bucky-image-archive-test-"));
afterAll(() => rmSync(root, { recursive: true, force: true }));
const amd64: Platform = { os: "linux", architecture: "amd64" };

/** A home's image store, and what its reading left behind (nothing, after it is done). */
function store() {
  const dir = mkdtempSync(join(root, "home-"));
  const images = new ImageStore(new ObjectStore(join(dir, "ndn")), join(dir, "images"));
  const incoming = join(dir, "images", "incoming");
  return {
    images,
    left: () => (existsSync(incoming) ? readdirSync(incoming) : []),
    stored: (): string[] => [...images.objects.objects()],
  };
}

/** What `docker save` writes for one image of one layer: its entries, for tar(). */
function dockerArchive(layer = "the layer's bytes", diffId = digestOf(layer)) {
  const config = JSON.stringify({
    os: "linux",
    architecture: "amd64",
    config: { ExposedPorts: { "8080/tcp": {} } },
    rootfs: { type: "layers", diff_ids: [diffId] },
  });
  const manifest = JSON.stringify([
    { Config: "config.json", RepoTags: ["localhost/site:1"], Layers: ["layer.tar"] },
  ]);
  return [
    ["manifest.json", manifest],
    ["config.json", config],
    ["layer.tar", layer],
  ] as [string, string][];
}

function file(name: string, bytes: Uint8Array): string {
  const path = join(mkdtempSync(join(root, "file-")), name);
  writeFileSync(path, bytes);
  return path;
}

/** A pax header saying the next entry is `size` bytes (ustar's own field stops at 8 GiB). */
function paxSize(size: number): [string, string, string] {
  const record = (length: number) => `${length} size=${size}\n`;
  let length = record(0).length;
  while (record(length).length !== length) length = record(length).length;
  return ["PaxHeaders/layer.tar", record(length), "x"];
}

describe("an image archive", () => {
  test.each([
    ["a .tar", (bytes: Uint8Array) => bytes],
    ["a .tar.gz", (bytes: Uint8Array) => new Uint8Array(gzipSync(bytes))],
  ])(
    "as %s: stored, its layer checked against its digest, nothing left unpacked",
    async (_, pack) => {
      const { images, left } = store();
      const pulled = await readImageArchive(file("site.tar", pack(tar(dockerArchive()))), {
        platforms: [amd64],
        images,
      });
      expect(pulled.record.ref).toBe("localhost/site:1");
      expect(pulled.record.images.map((image) => image.platform)).toEqual(["linux/amd64"]);
      expect(pulled.exposedPorts).toEqual([8080]);
      expect(
        images.objectOf(digestOf("the layer's bytes"), "the layer's bytes".length),
      ).toBeDefined();
      expect(left()).toEqual([]);
    },
  );

  test("a layer that does not hash to its config's digest is refused as altered", async () => {
    const { images, left, stored } = store();
    const archive = file("site.tar", tar(dockerArchive("altered", digestOf("the original"))));
    expect(await refusal(readImageArchive(archive, { platforms: [amd64], images }))).toBe(
      `E_INTEGRITY: layer 0 of ${archive} (layer.tar) hashes to ${digestOf("altered")}, not to the ${digestOf("the original")} its config names: it was altered`,
    );
    expect(stored()).toEqual([]);
    expect(left()).toEqual([]);
  });

  test("an OCI archive whose second layer was altered is refused with nothing stored, not even its first", async () => {
    const { images, left, stored } = store();
    const layers = ["the first layer", "the second layer"];
    const archive = file("site.tar", tar(ociArchive(layers, 1)));
    expect(await refusal(readImageArchive(archive, { platforms: [amd64], images }))).toBe(
      `E_INTEGRITY: layer ${digestOf(layers[1] as string)} in ${archive} hashes to ${digestOf("#he second layer")}: it was altered`,
    );
    expect(stored()).toEqual([]);
    expect(left()).toEqual([]);
    // Whole, it is stored: both layers, nothing else of it left behind.
    const pulled = await readImageArchive(file("site.tar", tar(ociArchive(layers))), {
      platforms: [amd64],
      images,
    });
    expect(pulled.record.images[0]?.layers.map((layer) => layer.digest)).toEqual(
      layers.map(digestOf),
    );
    expect(layers.map((layer) => String(images.objectOf(digestOf(layer), layer.length)))).toEqual(
      layers.map(digestOf),
    );
    expect(left()).toEqual([]);
  });

  test("a file of the archive that is not the image's is not kept", async () => {
    const { images, left, stored } = store();
    const stray = "a file no manifest names";
    await readImageArchive(file("site.tar", tar([...dockerArchive(), ["stray.bin", stray]])), {
      platforms: [amd64],
      images,
    });
    expect(stored()).not.toContain(digestOf(stray));
    expect(stored()).toContain(digestOf("the layer's bytes"));
    expect(left()).toEqual([]);
  });

  test("kept in Docker's older layout too: the link it keeps per layer is left out, never followed", async () => {
    // What `podman save --format docker-archive` writes beside the layer's own file.
    const { images, left } = store();
    const legacy = "d22c093b24841bc2f86bb2b2537dca5817557720a784f1d874c160698c20ba9c";
    const archive = file(
      "site.tar",
      tar([
        ...dockerArchive(),
        [legacy, "", "5"],
        [`${legacy}/layer.tar`, "../layer.tar", "2"],
        [`${legacy}/VERSION`, "1.0"],
        ["repositories", "{}"],
      ]),
    );
    const pulled = await readImageArchive(archive, { platforms: [amd64], images });
    expect(pulled.record.ref).toBe("localhost/site:1");
    expect(left()).toEqual([]);
  });

  test.each<[string, [string, string, string?][], (archive: string) => string]>([
    [
      "a layer that is a link (to a file of the device)",
      [...dockerArchive().slice(0, 2), ["layer.tar", "/etc/shadow", "2"]],
      (archive) => `E_INVALID_INPUT: ${archive} has no file layer.tar (or it is a link)`,
    ],
    [
      "a layer that is a hard link",
      [...dockerArchive().slice(0, 2), ["layer.tar", "config.json", "1"]],
      (archive) => `E_INVALID_INPUT: ${archive} has no file layer.tar (or it is a link)`,
    ],
    [
      "a path out of it",
      [...dockerArchive(), ["../../escaped", "out"]],
      () => 'E_INVALID_INPUT: that image archive holds "../../escaped", a path outside the archive',
    ],
    [
      "an absolute path",
      [...dockerArchive(), ["/tmp/escaped", "out"]],
      () => 'E_INVALID_INPUT: that image archive holds "/tmp/escaped", a path outside the archive',
    ],
    [
      "a link out of it",
      [...dockerArchive(), ["../../escaped", "/etc/shadow", "2"]],
      () => 'E_INVALID_INPUT: that image archive holds "../../escaped", a path outside the archive',
    ],
    [
      "a name twice (a second layer.tar after the first was read)",
      [...dockerArchive(), ["layer.tar", "other bytes"]],
      () =>
        "E_INVALID_INPUT: that is not an image archive bucky can read: it holds layer.tar twice",
    ],
    [
      "a file under a file of its own",
      [...dockerArchive(), ["layer.tar/inner", "bytes"]],
      () =>
        "E_INVALID_INPUT: that is not an image archive bucky can read: layer.tar/inner is under a file of the same archive",
    ],
    [
      "a directory where a file was",
      [...dockerArchive(), ["layer.tar", "", "5"]],
      () =>
        "E_INVALID_INPUT: that is not an image archive bucky can read: it holds layer.tar twice",
    ],
    [
      "a device",
      [...dockerArchive(), ["console", "", "3"]],
      () =>
        "E_INVALID_INPUT: that image archive holds console, a character device: an image archive holds only plain files and directories",
    ],
  ])("holding %s is refused, nothing kept", async (_, entries, refused) => {
    const { images, left, stored } = store();
    const archive = file("site.tar", tar(entries));
    expect(await refusal(readImageArchive(archive, { platforms: [amd64], images }))).toBe(
      refused(archive),
    );
    expect(stored()).toEqual([]);
    expect(left()).toEqual([]);
    expect(existsSync(join(root, "escaped"))).toBe(false);
  });

  test("a directory or a file not there is refused as such", async () => {
    const { images } = store();
    const dir = mkdtempSync(join(root, "dir-"));
    expect(await refusal(readImageArchive(dir, { platforms: [amd64], images }))).toBe(
      `E_INVALID_INPUT: ${dir} is not a file`,
    );
    expect(
      await refusal(readImageArchive(join(dir, "none.tar"), { platforms: [amd64], images })),
    ).toBe(`E_NOT_FOUND: cannot read ${join(dir, "none.tar")}: no such file or directory`);
  });

  test("a huge sparse entry is refused at its header", async () => {
    const { images, left } = store();
    const sparse = new Uint8Array(
      Buffer.concat([tarHeader("layer.tar", 4 * 1024 ** 3, "S"), new Uint8Array(1024)]),
    );
    expect(
      await refusal(readImageArchive(file("site.tar", sparse), { platforms: [amd64], images })),
    ).toBe(
      "E_INVALID_INPUT: that image archive holds layer.tar, a sparse file: an image archive holds only plain files and directories",
    );
    expect(left()).toEqual([]);
  });

  test("a gzip bomb past the bounds is refused as it unpacks, not written out", async () => {
    const { images, left } = store();
    const limits: ArchiveLimits = {
      totalBytes: 48 * 1024 ** 2,
      entries: 100,
      fileBytes: 32 * 1024 ** 2,
    };
    const bomb = file("bomb.tar.gz", gzipBomb(4, 16 * 1024 ** 2));
    expect(await refusal(readImageArchive(bomb, { platforms: [amd64], images, limits }))).toBe(
      `E_INVALID_INPUT: that image archive holds more than ${48 * 1024 ** 2} bytes of files: an image archive unpacks to at most ${48 * 1024 ** 2} bytes, 100 entries, and ${32 * 1024 ** 2} bytes a file (totalBytes)`,
    );
    expect(left()).toEqual([]);
  });

  // Past any bound of bytes (they are not what is tested here): only the disk's room is.
  const unbounded: ArchiveLimits = {
    totalBytes: Number.MAX_SAFE_INTEGER,
    entries: 100,
    fileBytes: Number.MAX_SAFE_INTEGER,
  };

  test("a .tar.gz that unpacks to more than the disk has room for is refused (E_IO) at that file's header, before its bytes", async () => {
    const { images, left, stored } = store();
    // Its header claims 8 GiB more than the room now (the bytes after it are never read).
    const claimed = (imageRoom(images, root)?.bytes ?? 0) + 8 * 1024 ** 3;
    const bomb = new Uint8Array(
      Buffer.concat([
        gzipSync(tar([paxSize(claimed), ["layer.tar", ""]]).subarray(0, 1536)),
        gzipSync(new Uint8Array(1024 * 1024)),
      ]),
    );
    const archive = file("bomb.tar.gz", bomb);
    const refused = await refusal(
      readImageArchive(archive, { platforms: [amd64], images, limits: unbounded }),
    );
    expect(refused).toStartWith(
      `E_IO: ${archive} does not fit on this device's disk: it unpacks to at least ${formatBytes(claimed)} (with layer.tar, of ${formatBytes(claimed)}), and there is room for `,
    );
    expect(stored()).toEqual([]);
    expect(left()).toEqual([]);
  });

  test("a .tar larger than the disk has room for is refused (E_IO) before a byte is written", async () => {
    const { images, left } = store();
    // A file of that size that takes no room itself: sparse, all zeros.
    const huge = join(mkdtempSync(join(root, "file-")), "huge.tar");
    const sizeBytes = (imageRoom(images, root)?.bytes ?? 0) + 8 * 1024 ** 3;
    writeFileSync(huge, "");
    truncateSync(huge, sizeBytes);
    const refused = await refusal(
      readImageArchive(huge, { platforms: [amd64], images, limits: unbounded }),
    );
    expect(refused).toStartWith(
      `E_IO: ${huge} does not fit on this device's disk: it unpacks to about its `,
    );
    expect(left()).toEqual([]);
  });

  describe("on a small disk (a tmpfs with 8 MiB of room past what stays free)", () => {
    /** A home on a fresh tmpfs of 64 MiB kept free (SPARE_BYTES) and 8 MiB more. */
    async function onSmallDisk(body: (dir: string) => Promise<void>): Promise<void> {
      const mount = mkdtempSync(join(root, "small-"));
      const mounted = spawnSync("mount", ["-t", "tmpfs", "-o", "size=72m", "tmpfs", mount]);
      if (mounted.status !== 0)
        throw new Error(`this test needs root to mount a tmpfs: ${mounted.stderr}`);
      try {
        await body(mount);
      } finally {
        spawnSync("umount", ["-l", mount]);
      }
    }
    const smallStore = (dir: string) => {
      mkdirSync(join(dir, "home"));
      return new ImageStore(new ObjectStore(join(dir, "home", "ndn")), join(dir, "home", "images"));
    };
    const MiB = 1024 ** 2;

    test("a .tar that fits once but not twice is installed: its blobs are stored as they are read", async () => {
      await onSmallDisk(async (dir) => {
        const images = smallStore(dir);
        const layer = "x".repeat(5 * MiB);
        const archive = file("site.tar", tar(dockerArchive(layer)));
        const pulled = await readImageArchive(archive, { platforms: [amd64], images });
        expect(pulled.record.images[0]?.layers.map((l) => l.digest)).toEqual([digestOf(layer)]);
        expect(images.objectOf(digestOf(layer), layer.length)).toBeDefined();
        expect(images.room.reservedBytes()).toBe(0);
      });
    });

    test("a .tar larger than the room is refused before a byte is written, saying what it needs", async () => {
      await onSmallDisk(async (dir) => {
        const images = smallStore(dir);
        const archive = file("site.tar", tar(dockerArchive("x".repeat(9 * MiB))));
        const refused = await refusal(readImageArchive(archive, { platforms: [amd64], images }));
        expect(refused).toMatch(
          new RegExp(
            `^E_IO: ${archive} does not fit on this device's disk: it unpacks to about its 9\\.0 MiB, and there is room for [0-9.]+ MiB$`,
          ),
        );
        expect([...images.objects.objects()]).toEqual([]);
      });
    });

    test("a .tar.gz is refused at the header of the file past the room, saying what it needs", async () => {
      await onSmallDisk(async (dir) => {
        const images = smallStore(dir);
        const archive = file("site.tar.gz", gzipSync(tar(dockerArchive("x".repeat(9 * MiB)))));
        const refused = await refusal(readImageArchive(archive, { platforms: [amd64], images }));
        expect(refused).toMatch(
          new RegExp(
            `^E_IO: ${archive} does not fit on this device's disk: it unpacks to at least 9\\.0 MiB \\(with layer\\.tar, of 9\\.0 MiB\\), and there is room for [0-9.]+ MiB$`,
          ),
        );
        expect([...images.objects.objects()]).toEqual([]);
      });
    });

    test.each([
      ["a .tar", (bytes: Uint8Array) => bytes],
      ["a .tar.gz", (bytes: Uint8Array) => new Uint8Array(gzipSync(bytes))],
    ])("two installs at once of %s that both fit are both stored", async (_, pack) => {
      await onSmallDisk(async (dir) => {
        const images = smallStore(dir);
        const layers = ["1".repeat(3 * MiB), "2".repeat(3 * MiB)];
        const pulled = await Promise.all(
          layers.map((layer, i) =>
            readImageArchive(file(`site-${i}.tar`, pack(tar(dockerArchive(layer)))), {
              platforms: [amd64],
              images,
            }),
          ),
        );
        expect(pulled.map((p) => p.record.images[0]?.layers[0]?.digest)).toEqual(
          layers.map(digestOf),
        );
        expect(images.room.reservedBytes()).toBe(0);
      });
    });

    test("two installs at once do not both count the same room: the second is refused, the first stored", async () => {
      await onSmallDisk(async (dir) => {
        const images = smallStore(dir);
        const one = file("one.tar", tar(dockerArchive("1".repeat(5 * MiB))));
        const two = file("two.tar", tar(dockerArchive("2".repeat(5 * MiB))));
        const settled = await Promise.allSettled(
          [one, two].map((archive) => readImageArchive(archive, { platforms: [amd64], images })),
        );
        // Either may measure first: that one is stored, the other refused.
        expect(settled.map((outcome) => outcome.status).sort()).toEqual(["fulfilled", "rejected"]);
        const refusedIndex = settled.findIndex((outcome) => outcome.status === "rejected");
        const refused = [one, two][refusedIndex] as string;
        const error = (settled[refusedIndex] as PromiseRejectedResult).reason as Error & {
          code: string;
        };
        // What the first holds is what it has yet to write: up to all of it.
        expect(`${error.code}: ${error.message}`).toMatch(
          new RegExp(
            `^E_IO: ${refused} does not fit on this device's disk: it unpacks to about its 5\\.0 MiB, and there is room for [0-9.]+ MiB( \\(other installs under way hold [0-9.]+ [KM]iB of the free space\\))?$`,
          ),
        );
        // The room is given back when an install ends: what the first stored is counted by
        // the disk now, not held as well.
        expect(images.room.reservedBytes()).toBe(0);
        expect(
          await refusal(readImageArchive(refused, { platforms: [amd64], images })),
        ).not.toContain("other installs");
      });
    });
  });
});
