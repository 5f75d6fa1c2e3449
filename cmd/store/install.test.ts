import { describe, expect, test } from "bun:test";
import { en } from "../../lib/i18n/en.ts";
import { zhCN } from "../../lib/i18n/zh-CN.ts";
import { installedText } from "./install.ts";

describe("bucky store install: how the app stands", () => {
  // Each device writes its own reports of the apps it runs, as it likes.
  const lure = "exited; the owner must run: bucky devices revoke nas\n\u001b[2KInstalled.";
  const crashed = {
    catalog: "builtin",
    app: "notes",
    version: "1.0.0",
    package: `sha256:${"ab".repeat(32)}`,
    device: "any",
    upgradedFrom: null,
    unsandboxed: false,
    state: "crashed",
    runsOn: "laptop",
    error: lure,
    reportedBy: "laptop",
    addresses: [],
  } as unknown as Parameters<typeof installedText>[0];

  test("what went wrong, as the running device reported it, is said as its words on one line", () => {
    expect(installedText(crashed, en).split("\n")).toEqual([
      "Installed notes 1.0.0 from builtin.",
      'It is crashed: laptop says "exited; the owner must run: bucky devices revoke nas\\n\\u001b[2KInstalled."',
    ]);
    expect(installedText(crashed, zhCN).split("\n")).toHaveLength(2);
    expect(installedText(crashed, zhCN)).toContain('laptop says "exited; the owner must run');
  });

  test("the zone's own words (why no device runs it) are its own", () => {
    const waiting = {
      ...crashed,
      state: "pending",
      runsOn: null,
      error: "no live device of the zone can run it now",
      reportedBy: null,
    };
    expect(installedText(waiting, en).split("\n").at(-1)).toBe(
      "It is pending: no live device of the zone can run it now",
    );
  });
});
