/**
 * App archives are unpacked one at a time in their own directory of the home, which is
 * left empty whatever happens: refused, installed, or failing once unpacked.
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
import { refusal, tar } from "../archive/test-archives.ts";
import { BuckyError } from "../errors.ts";
import { AppArchives } from "./app-archive.ts";

const scratch = mkdtempSync(join(tmpdir(), "bucky-app-archive-"));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

describe("app archives", () => {
  test("the app's directory is given as it is packed, at the top or in one directory, and removed after", async () => {
    const uploads = join(scratch, "uploads-1");
    const archives = new AppArchives(uploads);
    const read = (dir: string) => readFileSync(join(dir, "bucky-app.json"), "utf8");
    expect(await archives.with(tar([["bucky-app.json", "top"]]), read)).toBe("top");
    expect(await archives.with(tar([["notes/bucky-app.json", "inner"]]), read)).toBe("inner");
    expect(readdirSync(uploads)).toEqual([]);
  });

  test("one without a manifest, or whose use fails, leaves nothing", async () => {
    const uploads = join(scratch, "uploads-2");
    const archives = new AppArchives(uploads);
    expect(
      await refusal(
        archives.with(
          tar([
            ["a/readme", "x"],
            ["b/readme", "y"],
          ]),
          () => 1,
        ),
      ),
    ).toBe(
      "E_INVALID_INPUT: that app archive has no bucky-app.json, at its top or in its one directory",
    );
    const failing = archives.with(tar([["bucky-app.json", "{}"]]), () => {
      throw new BuckyError("E_INVALID_INPUT", "a bad manifest");
    });
    expect(await refusal(failing)).toBe("E_INVALID_INPUT: a bad manifest");
    expect(readdirSync(uploads)).toEqual([]);
  });

  test("one is unpacked at a time, and what a previous daemon left is removed", async () => {
    const uploads = join(scratch, "uploads-3");
    mkdirSync(join(uploads, "app-left"), { recursive: true });
    writeFileSync(join(uploads, "app-left", "big"), "x");
    const archives = new AppArchives(uploads);
    expect(existsSync(uploads)).toBe(false);
    let release = () => {};
    const held = new Promise<void>((resolve) => {
      release = resolve;
    });
    const first = archives.with(tar([["bucky-app.json", "{}"]]), () => held);
    expect(await refusal(archives.with(tar([["bucky-app.json", "{}"]]), () => 1))).toBe(
      "E_UNAVAILABLE: another app archive is being installed on this device",
    );
    release();
    await first;
    expect(await archives.with(tar([["bucky-app.json", "{}"]]), () => "again")).toBe("again");
  });
});
