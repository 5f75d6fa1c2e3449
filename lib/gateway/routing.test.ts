import { describe, expect, test } from "bun:test";
import { route } from "./routing.ts";

describe("route", () => {
  test("the app's subdomain of the zone host", () => {
    expect(route("notes.home.example", "/a?b=1", "home.example")).toEqual({
      kind: "app",
      app: "notes",
      path: "/a?b=1",
      prefix: "",
    });
    expect(route("NOTES.Home.Example:8443", "/", "home.example")).toEqual({
      kind: "app",
      app: "notes",
      path: "/",
      prefix: "",
    });
  });

  test("the zone host itself, then paths", () => {
    // At the zone's name a path leads only to the app's own name (its own origin).
    expect(route("home.example", "/apps/notes/api/x?y", "home.example")).toEqual({
      kind: "app-by-name",
      app: "notes",
      path: "/api/x?y",
    });
    expect(route("Home.Example.:8443", "/apps/notes", "home.example")).toEqual({
      kind: "app-by-name",
      app: "notes",
      path: "/",
    });
    // By address, or on a gateway without a name, the app is served by path.
    expect(route("10.0.0.2:8080", "/apps/notes/api/x?y", "home.example")).toEqual({
      kind: "app",
      app: "notes",
      path: "/api/x?y",
      prefix: "/apps/notes",
    });
    expect(route("10.0.0.2", "/apps/notes", null)).toEqual({ kind: "app-slash", app: "notes" });
    expect(route("home.example", "/", "home.example")).toEqual({ kind: "home" });
    expect(route("10.0.0.2", "/ndn/sha256:abc", "home.example")).toEqual({
      kind: "ndn",
      id: "sha256:abc",
    });
    expect(route(null, "/_bucky/login?token=x", null)).toEqual({ kind: "login" });
  });

  test("signing in, enrolling and signing out are the gateway's own", () => {
    for (const path of [
      "/_bucky/signin",
      "/_bucky/signin/passkey",
      "/_bucky/enroll",
      "/_bucky/signout",
    ])
      expect(route("home.example", `${path}?next=/`, "home.example")).toEqual({
        kind: "account",
        path,
      });
    expect(route("home.example", "/_bucky/signinx", "home.example")).toEqual({ kind: "home" });
    // On an app's name, every path is the app's.
    expect(route("notes.home.example", "/_bucky/signin", "home.example")).toMatchObject({
      kind: "app",
      app: "notes",
    });
  });

  test("look-alike hosts name no app", () => {
    expect(route("a.notes.home.example", "/", "home.example")).toEqual({ kind: "unknown-host" });
    expect(route("Not_An_App.home.example", "/", "home.example")).toEqual({ kind: "unknown-host" });
    expect(route("notes.home.example.evil.test", "/", "home.example")).toEqual({ kind: "home" });
    expect(route("evilhome.example", "/", "home.example")).toEqual({ kind: "home" });
    expect(route("home.example", "/apps/Bad..Name/", "home.example")).toEqual({ kind: "home" });
  });
});
