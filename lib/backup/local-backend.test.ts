import { describe, expect, test } from "bun:test";
import { existsSync, mkdirSync, mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { LocalBackend } from "./local-backend.ts";

describe("LocalBackend", () => {
  test("never leaves its root, whatever path a repository file names", async () => {
    const dir = mkdtempSync(join(tmpdir(), "bucky-local-backend-"));
    const root = join(dir, "repo");
    mkdirSync(join(root, "data"), { recursive: true });
    const victim = join(dir, "victim");
    writeFileSync(victim, "not the repository's");
    const backend = new LocalBackend(root);
    const refusals = [];
    for (const path of ["../victim", "data/../../victim", "/etc/passwd", "data//x", "./config"])
      for (const act of [
        () => backend.remove(path),
        () => backend.read(path, 1024),
        () => backend.list(path),
        () => backend.write(path, new Uint8Array(1)),
      ])
        refusals.push(
          await act().then(
            () => "done",
            (error: { code?: string }) => error.code,
          ),
        );
    expect(new Set(refusals)).toEqual(new Set(["E_INTEGRITY"]));
    expect(existsSync(victim)).toBe(true);
    await backend.write("data/ab", new Uint8Array([1, 2]));
    expect(await backend.read("data/ab", 16)).toEqual(new Uint8Array([1, 2]));
  });

  test("a range read asks for no more than a blob can be, nor than the file holds", async () => {
    const root = mkdtempSync(join(tmpdir(), "bucky-local-backend-"));
    const backend = new LocalBackend(root);
    await backend.write("data/pack", new Uint8Array(100));
    const refusal = (offset: number, length: number) =>
      backend.readRange("data/pack", offset, length).then(
        (bytes) => `read ${bytes.length}`,
        (error: { code?: string; message: string }) =>
          `${error.code} ${error.message.includes("shorter") ? "shorter" : "past"}`,
      );
    expect(
      await Promise.all([
        refusal(0, 2 ** 40),
        refusal(0, -1),
        refusal(0.5, 10),
        refusal(90, 20),
        refusal(1000, 1),
        refusal(10, 90),
      ]),
    ).toEqual([
      "E_INTEGRITY past",
      "E_INTEGRITY past",
      "E_INTEGRITY past",
      "E_INTEGRITY shorter",
      "E_INTEGRITY shorter",
      "read 90",
    ]);
  });
});
