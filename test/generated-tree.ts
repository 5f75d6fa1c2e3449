/**
 * A tree of files like a person's data, for backup tests and benchmarks: incompressible
 * media-like files, compressible text, many small files, and duplicates, in nested
 * directories, adding up to about the size asked for.
 */
import { randomBytes } from "node:crypto";
import { copyFileSync, mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";

const WORDS =
  "the zone keeps every device in sync and backs up what matters encrypted verified restored byte for byte photos notes music documents".split(
    " ",
  );

export interface GeneratedTree {
  readonly files: number;
  readonly bytes: number;
}

export function generateTree(root: string, totalBytes: number): GeneratedTree {
  let files = 0;
  let bytes = 0;
  const written: string[] = [];
  const add = (path: string, data: Uint8Array | string) => {
    writeFileSync(path, data);
    written.push(path);
    files += 1;
    bytes += typeof data === "string" ? Buffer.byteLength(data) : data.length;
  };
  const dirs = [
    "photos/2024",
    "photos/2025",
    "music",
    "documents/work",
    "documents/home",
    "notes",
    "code/src",
    "code/lib",
  ];
  for (const dir of dirs) mkdirSync(join(root, dir), { recursive: true });
  const dir = (i: number) => join(root, dirs[i % dirs.length] as string);
  for (let i = 0; bytes < totalBytes; i++) {
    const kind = i % 10;
    if (kind < 3) {
      add(
        join(dir(i), `media-${i}.bin`),
        new Uint8Array(randomBytes(1_000_000 + ((i * 7919) % 12_000_000))),
      );
    } else if (kind < 6) {
      add(join(dir(i), `text-${i}.txt`), text(20_000 + ((i * 104729) % 2_000_000)));
    } else if (kind < 8) {
      for (let j = 0; j < 20; j++)
        add(join(dir(i + j), `small-${i}-${j}.txt`), text(100 + ((i * j * 31) % 8_000)));
    } else if (written.length > 0) {
      const source = written[(i * 31) % written.length] as string;
      const copy = join(dir(i + 3), `copy-${i}-${source.split("/").at(-1)}`);
      copyFileSync(source, copy);
      written.push(copy);
      files += 1;
      bytes += Bun.file(copy).size;
    }
  }
  return { files, bytes };
}

function text(length: number): string {
  const parts: string[] = [];
  let size = 0;
  let seed = length;
  while (size < length) {
    seed = (seed * 1103515245 + 12345) & 0x7fffffff;
    const word = WORDS[seed % WORDS.length] as string;
    parts.push(seed % 13 === 0 ? `${word}\n` : `${word} ${seed % 1000} `);
    size += word.length + 5;
  }
  return parts.join("").slice(0, length);
}
