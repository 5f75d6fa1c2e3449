/**
 * What one planted index file of made-up entries costs a load (review round 4, finding 6).
 *
 * Any holder of the backup key can write an index file of a few MB whose made-up entries
 * compress to a byte each. Before the fix it was decompressed (up to 512 MiB), parsed and
 * turned into BlobLocation objects whole, by every backup, verify, prune and restore of
 * every device: 6000000 entries (5.7 MB) took a load 202 s and 5.65 GB. Now openIndex
 * bounds what a file decompresses to and how many blobs it names by its sealed size, so it
 * is refused at once. The figure beside it is its anchor: the bytes the file takes on the
 * target.
 *
 *   bun bench/planted-index.ts [entries=6000000]
 *
 * Heavy: with the default, some 3 GB to make the file; 1000000 makes it in seconds.
 */
import { randomBytes } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { LocalBackend } from "../lib/backup/local-backend.ts";
import { Repository } from "../lib/backup/repository.ts";
import { sealIndex } from "../lib/backup/sealed.ts";

const [mode, ...rest] = process.argv.slice(2);

if (mode === "load") {
  // The child: loads the index of the repository at `location`, and says how long it took.
  const [location, rootHex] = rest as [string, string];
  const started = performance.now();
  const repository = await Repository.open(
    new LocalBackend(location),
    new Uint8Array(Buffer.from(rootHex, "hex")),
    { withIndex: false },
  );
  await repository.loadIndex();
  repository.close();
  console.log(JSON.stringify({ loadMs: Math.round(performance.now() - started) }));
} else {
  const entries = Number(mode ?? 6_000_000);
  const location = mkdtempSync(join(tmpdir(), "bucky-planted-index-"));
  try {
    const root = new Uint8Array(randomBytes(32));
    const repository = await Repository.openOrCreate(new LocalBackend(location), root, {
      withIndex: false,
    });
    // Made-up blobs in a pack that is not there: nothing of it is kept once read.
    const pack = "ab".repeat(32);
    const blobs = Array.from({ length: entries }, (_, i) => ({
      id: i.toString(16).padStart(64, "0"),
      type: "data" as const,
      pack,
      offset: 0,
      length: 1,
      size: 1,
    }));
    const name = randomBytes(16).toString("hex");
    const sealed = sealIndex(repository.keys, name, blobs);
    await repository.backend.write(`index/${name}`, sealed);
    repository.close();
    // Loaded in a process of its own, so its peak memory is the load's alone.
    const child = Bun.spawnSync(
      [
        "/usr/bin/time",
        "-f",
        "%M",
        process.execPath,
        import.meta.path,
        "load",
        location,
        Buffer.from(root).toString("hex"),
      ],
      { stderr: "pipe", stdout: "pipe" },
    );
    const { loadMs } = JSON.parse(child.stdout.toString()) as { loadMs: number };
    const peakKiB = Number(child.stderr.toString().trim().split("\n").at(-1));
    console.log(
      `planted index file: ${entries} entries, ${sealed.length} bytes on the target (anchor); one load: ${loadMs} ms, peak ${Math.round(peakKiB / 1024)} MiB`,
    );
  } finally {
    rmSync(location, { recursive: true, force: true });
  }
}
