/**
 * Pruning unpacked packages: what no spec wants goes, a directory at a time without
 * holding the event loop, and one a spec wants again before its turn stays.
 */
import { afterAll, describe, expect, test } from "bun:test";
import { existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { prunePackages } from "./package-dir.ts";
import type { AppSpec } from "./spec.ts";

const scratch = mkdtempSync(join(tmpdir(), "bucky-prune-"));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

const digest = (n: number) => String(n).padStart(64, "0");
const spec = (app: string, ...packages: number[]) =>
  ({
    app,
    version: "1",
    desired: "running",
    package: `sha256:${digest(packages[0] as number)}`,
    ...(packages[1] === undefined ? {} : { previousPackage: `sha256:${digest(packages[1])}` }),
  }) as unknown as AppSpec;

/** `count` unpacked packages of `app`, numbered from 0, of `files` files each. */
function unpacked(appsDir: string, app: string, count: number, files: number): string {
  const packages = join(appsDir, app, "packages");
  for (let n = 0; n < count; n++) {
    mkdirSync(join(packages, digest(n)), { recursive: true });
    for (let f = 0; f < files; f++) writeFileSync(join(packages, digest(n), `f${f}`), "x");
  }
  return packages;
}

describe("unpacked packages pruned", () => {
  test("what no spec wants goes, the event loop turning between them", async () => {
    const appsDir = join(scratch, "turning");
    const packages = unpacked(appsDir, "notes", 40, 50);
    let settled = false;
    const pruning = prunePackages(appsDir, () => [spec("notes", 39, 38)]).finally(() => {
      settled = true;
    });
    const seen = await new Promise<number>((resolve) => {
      const look = () => {
        const left = readdirSync(packages).filter((name) => !name.startsWith(".")).length;
        if (settled || left < 40) resolve(settled ? -1 : left);
        else setTimeout(look, 0);
      };
      setTimeout(look, 0);
    });
    expect(seen).toBeGreaterThan(2);
    expect(await pruning).toBe(38);
    expect(readdirSync(packages).sort()).toEqual([digest(38), digest(39)]);
  });

  test("one a spec wants again before its turn stays", async () => {
    const appsDir = join(scratch, "wanted-again");
    const packages = unpacked(appsDir, "notes", 3, 1);
    // Looked at in order: 0 stays, 1 goes, then notes goes back to package 2 before its
    // turn (its spec is read again for each).
    let asked = 0;
    const specs = () => (++asked <= 2 ? [spec("notes", 0)] : [spec("notes", 2, 0)]);
    expect(await prunePackages(appsDir, specs)).toBe(1);
    expect(readdirSync(packages).sort()).toEqual([digest(0), digest(2)]);
    expect(existsSync(join(packages, digest(1)))).toBe(false);
  });
});
