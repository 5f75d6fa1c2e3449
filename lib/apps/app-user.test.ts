import { afterAll, describe, expect, test } from "bun:test";
import {
  lstatSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  statSync,
  symlinkSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { APP_UID_BASE, APP_UID_RANGE, appUser, giveToApp, PROBE_USER } from "./app-user.ts";

const root = mkdtempSync(join(tmpdir(), "bucky-app-user-"));
afterAll(() => rmSync(root, { recursive: true, force: true }));

describe("appUser", () => {
  test("gives each app a user of its own, in range, kept from run to run", () => {
    const apps = join(root, "apps");
    const notes = appUser(apps, "notes");
    const site = appUser(apps, "site");
    expect(notes.uid).not.toBe(site.uid);
    for (const user of [notes, site]) {
      expect(user.gid).toBe(user.uid);
      expect(user.uid).toBeGreaterThanOrEqual(APP_UID_BASE);
      expect(user.uid).toBeLessThan(APP_UID_BASE + APP_UID_RANGE);
      expect(user.uid).not.toBe(PROBE_USER.uid);
    }
    expect(appUser(apps, "notes")).toEqual(notes);
    expect(readFileSync(join(apps, "notes", "uid"), "utf8")).toBe(`${notes.uid}\n`);
  });

  test("never hands out an id another app of the home holds", () => {
    const apps = join(root, "taken");
    const wanted = appUser(apps, "one").uid;
    rmSync(join(apps, "one"), { recursive: true });
    // Another app of this home holds the id this one would get first.
    mkdirSync(join(apps, "squatter"), { recursive: true });
    writeFileSync(join(apps, "squatter", "uid"), `${wanted}\n`);
    expect(appUser(apps, "one").uid).toBe(wanted + 1);
  });

  test("a damaged uid file is replaced, not trusted", () => {
    const apps = join(root, "damaged");
    mkdirSync(join(apps, "x"), { recursive: true });
    writeFileSync(join(apps, "x", "uid"), "0\n");
    expect(appUser(apps, "x").uid).toBeGreaterThanOrEqual(APP_UID_BASE);
  });
});

describe("giveToApp (as root)", () => {
  test("makes the data the app's, without following links out of it", () => {
    // Handing files to another user takes root, as the daemon has and the suite runs: a
    // run without it fails here, saying so, rather than passing over what it cannot check.
    expect({ root: process.getuid?.() === 0 }).toEqual({ root: true });
    const data = join(root, "data");
    mkdirSync(join(data, "db"), { recursive: true });
    writeFileSync(join(data, "db", "notes.db"), "x");
    const outside = join(root, "outside.txt");
    writeFileSync(outside, "root's");
    symlinkSync(outside, join(data, "link"));
    const user = { uid: APP_UID_BASE + 7, gid: APP_UID_BASE + 7 };
    giveToApp(data, user);
    for (const path of [data, join(data, "db"), join(data, "db", "notes.db")])
      expect([path, statSync(path).uid, statSync(path).gid]).toEqual([path, user.uid, user.gid]);
    expect(lstatSync(join(data, "link")).uid).toBe(user.uid);
    expect(statSync(outside).uid).toBe(0);
  });
});
