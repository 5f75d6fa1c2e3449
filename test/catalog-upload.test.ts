/**
 * A catalog file uploaded to the daemon is unpacked without holding it: a gzip bomb (a
 * gigabyte of zeros packed into a megabyte) is refused once its files pass the bound,
 * nothing of it stays on disk, and the local API answers other requests meanwhile.
 */
import { afterAll, describe, expect, test } from "bun:test";
import { existsSync, readdirSync } from "node:fs";
import { join } from "node:path";
import { gzipBomb } from "../lib/catalog/test-archives.ts";
import { buckyJson, cleanUp, newHomePath, startDaemon, waitFor } from "./harness.ts";

afterAll(cleanUp);

describe("a catalog file uploaded", () => {
  test("a gzip bomb is refused with nothing left, and the daemon answers while it is unpacked", async () => {
    const home = newHomePath();
    await buckyJson(["init", "--home", home]);
    await startDaemon(home);
    const socket = join(home, "daemon.sock");
    const uploads = join(home, "store", "uploads");
    // 1.06 GiB of zeros in 4 MiB files (the largest a catalog holds), about 1 MB packed:
    // past the bound of 1 GiB only at its last files.
    const bomb = gzipBomb(272, 4 * 1024 * 1024);
    expect(bomb.length).toBeLessThan(2 * 1024 * 1024);
    let uploadAnswered = false;
    const upload = fetch("http://localhost/v1/store/catalogs/preview-file", {
      method: "POST",
      unix: socket,
      body: bomb,
    }).then(async (response) => {
      uploadAnswered = true;
      return { status: response.status, body: (await response.json()) as { error: unknown } };
    });
    // Once the daemon is writing the bomb's files, it is asked something else: a daemon
    // held by the unpacking would answer only after the upload.
    await waitFor(
      "the bomb's first files on disk",
      () => (unpackedFiles(uploads) > 0 ? true : undefined),
      20_000,
    );
    const status = await fetch("http://localhost/v1/status", { unix: socket });
    expect({ status: status.status, uploadAnswered }).toEqual({
      status: 200,
      uploadAnswered: false,
    });
    expect(await upload).toEqual({
      status: 400,
      body: {
        error: {
          code: "E_INVALID_INPUT",
          message: `that catalog file holds more than ${1024 ** 3} bytes of files: a catalog file unpacks to at most ${1024 ** 3} bytes, 10000 entries, and ${4 * 1024 * 1024 + 64 * 1024} bytes a file (totalBytes)`,
          hint: "Nothing was kept. Ask its publisher for the catalog's own file, or add it by its address.",
        },
      },
    });
    expect(readdirSync(uploads)).toEqual([]);
  }, 60_000);
});

/** The files under `dir`, at any depth. */
function unpackedFiles(dir: string): number {
  if (!existsSync(dir)) return 0;
  return readdirSync(dir, { recursive: true, withFileTypes: true }).filter((e) => e.isFile())
    .length;
}
