import { describe, expect, test } from "bun:test";
import {
  mayListState,
  mayUseState,
  ownStatePrefix,
  permissionProblem,
  statePrefixes,
} from "./app-permissions.ts";

describe("permissionProblem", () => {
  test("accepts the plain permissions and prefixes under apps/", () => {
    for (const permission of [
      "state.read",
      "state.write",
      "ndn.read",
      "ndn.write",
      "state.read:apps/shared/",
      "state.write:apps/notes/public/",
    ])
      expect([permission, permissionProblem(permission)]).toEqual([permission, undefined]);
  });

  test("refuses prefixes outside apps/, without a closing slash, or climbing", () => {
    for (const permission of [
      "state.read:",
      "state.read:apps/",
      "state.read:devices/",
      "state.read:users/owner/apps/",
      "state.write:apps/shared",
      "state.write:apps/../devices/",
      "state.write:apps//",
      "state.read:apps/a b/",
      "state.admin:apps/x/",
      "STATE.READ",
      "state.read ",
    ])
      expect([permission, permissionProblem(permission)]).toEqual([permission, expect.any(String)]);
  });

  test('says where the old "network" permission went', () => {
    expect(permissionProblem("network")).toContain('"network": "outbound"');
  });
});

describe("state access", () => {
  const permissions = ["state.read", "state.write:apps/board/", "state.read:apps/shared/"];

  test("an app's own prefix is apps/<app>/", () => {
    expect(ownStatePrefix("notes")).toBe("apps/notes/");
  });

  test("each permission opens its prefixes for its access only", () => {
    expect(statePrefixes(permissions, "notes", "read")).toEqual(["apps/notes/", "apps/shared/"]);
    expect(statePrefixes(permissions, "notes", "write")).toEqual(["apps/board/"]);
  });

  test("keys are matched by whole prefix, never by a name that merely starts the same", () => {
    const may = (access: "read" | "write", key: string) =>
      mayUseState(permissions, "notes", access, key);
    expect([
      may("read", "apps/notes/x"),
      may("read", "apps/notes2/x"),
      may("read", "apps/notes"),
      may("write", "apps/notes/x"),
      may("write", "apps/board/today"),
      may("read", "apps/board/today"),
      may("read", "apps/shared/motd"),
      may("read", "users/owner/apps/notes/spec"),
    ]).toEqual([true, false, false, false, true, false, true, false]);
  });

  test("a listing must stay inside a readable prefix", () => {
    const may = (prefix: string) => mayListState(permissions, "notes", prefix);
    expect([
      may("apps/notes/"),
      may("apps/notes/sub/"),
      may("apps/"),
      may(""),
      may("apps/board/"),
    ]).toEqual([true, true, false, false, false]);
  });

  test("an invalid permission that reached a manifest anyway opens nothing", () => {
    expect(statePrefixes(["state.read:devices/", "state.read:apps/"], "x", "read")).toEqual([]);
  });
});
