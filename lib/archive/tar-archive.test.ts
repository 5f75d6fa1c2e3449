/**
 * The one tar reader, given archives an attacker chose (a catalog file, an app archive,
 * an image archive): a valid archive cut, spliced and bit-flipped, in its headers above
 * all, plain and gzipped. Each is read or refused (a BuckyError), never another error,
 * which the daemon would take for a bug. Seeded: BUCKY_FUZZ_SEED=<n> replays a run.
 */
import { expect, test } from "bun:test";
import { gzipSync } from "node:zlib";
import { BuckyError } from "../errors.ts";
import { readArchiveFiles } from "./tar-archive.ts";
import { tar } from "./test-archives.ts";

const WORDS = {
  noun: "archive",
  aNoun: "an archive",
  dir: "the archive's directory",
  choose: "Choose another.",
  compressed: "Use gzip.",
  repack: "Repack it.",
  tooLarge: "Send less.",
};
const LIMITS = { totalBytes: 1 << 20, entries: 100, fileBytes: 1 << 19 };

test("an archive of bytes an attacker chose is read or refused, never another error", async () => {
  let state = Number(process.env.BUCKY_FUZZ_SEED ?? 20261129) >>> 0;
  const random = () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  const valid = tar([
    ["app/", "", "5"],
    ["app/bucky-app.json", '{"id":"x"}'],
    ["PaxHeader", `30 path=app/${"long".repeat(4)}.txt\n`, "x"],
    ["ignored", "text"],
    ["app/server.ts", "x".repeat(700)],
  ]);
  // Where a header's fields are: name, mode, size, checksum, type, magic.
  const fieldOffsets = [0, 100, 124, 130, 148, 156, 257, 345];
  const others: string[] = [];
  let read = 0;
  for (let i = 0; i < 600; i++) {
    let bytes = Buffer.from(valid);
    const header = 512 * Math.floor(random() * 6);
    const at =
      random() < 0.7
        ? header +
          (fieldOffsets[Math.floor(random() * fieldOffsets.length)] as number) +
          Math.floor(random() * 12)
        : Math.floor(random() * bytes.length);
    const kind = Math.floor(random() * 4);
    if (kind === 0) bytes = bytes.subarray(0, at);
    else if (kind === 1)
      bytes[at] = pick(random, [
        0,
        0x20,
        0x2e,
        0x2f,
        0x37,
        0x38,
        0x78,
        0xff,
        Math.floor(random() * 256),
      ]);
    else if (kind === 2)
      bytes.write(
        pick(random, ["77777777777", "-1", "1e9", "../../x", "/etc/", "x\0y", "g", "L", "K"]),
        at,
        "latin1",
      );
    else bytes = Buffer.concat([bytes.subarray(0, at), bytes.subarray(at + 512)]);
    const input = random() < 0.3 ? truncatedGzip(bytes, random) : new Uint8Array(bytes);
    try {
      await readArchiveFiles(input, LIMITS, WORDS, {}, async (file) => {
        for await (const _ of file.pieces);
      });
      read++;
    } catch (error) {
      if (!(error instanceof BuckyError)) others.push(`${kind}@${at}: ${String(error)}`);
    }
  }
  expect({ others, someRead: read > 0 }).toEqual({ others: [], someRead: true });
});

function pick<T>(random: () => number, items: readonly T[]): T {
  return items[Math.floor(random() * items.length)] as T;
}

/** The archive gzipped, and now and then cut short or flipped in its compressed bytes. */
function truncatedGzip(bytes: Uint8Array, random: () => number): Uint8Array {
  const zipped = Buffer.from(gzipSync(bytes));
  const at = Math.floor(random() * zipped.length);
  if (random() < 0.5) return new Uint8Array(zipped.subarray(0, at));
  zipped[at] = Math.floor(random() * 256);
  return new Uint8Array(zipped);
}
