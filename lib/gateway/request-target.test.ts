import { describe, expect, test } from "bun:test";
import { canonicalPath, isHostHeader } from "./request-target.ts";

describe("isHostHeader", () => {
  test("a name, an IPv4 or bracketed IPv6 address, with or without a port", () => {
    for (const host of [
      "zone.test",
      "NOTES.Zone.Test:8080",
      "home.example.",
      "10.0.0.2",
      "127.0.0.1:80",
      "[::1]",
      "[::1]:8443",
      "example.com:",
      "_dmarc.example",
    ])
      expect([host, isHostHeader(host)]).toEqual([host, true]);
  });

  test("anything else: missing, empty, two folded into one, a path, a user, a bad port", () => {
    for (const host of [
      null,
      "",
      "a b",
      "a, b",
      "[zz",
      "x/y",
      "x@y",
      "x?y",
      "x#y",
      "x:99999",
      "x:-1",
      "é.test",
      "a..b",
      ".a",
      "x\r\ny",
    ])
      expect([host, isHostHeader(host)]).toEqual([host, false]);
  });
});

describe("canonicalPath", () => {
  test("an encoded unreserved character is that character", () => {
    expect(canonicalPath("/%61pi/x")).toBe("/api/x");
    expect(canonicalPath("/api/%78%41%7e%2D")).toBe("/api/xA~-");
    expect(canonicalPath("/%61pps/notes/")).toBe("/apps/notes/");
  });

  test("other encodings stay, in capitals; plain paths are untouched", () => {
    expect(canonicalPath("/api/caf%c3%a9")).toBe("/api/caf%C3%A9");
    expect(canonicalPath("/a%20b/%3Fq")).toBe("/a%20b/%3Fq");
    expect(canonicalPath("/")).toBe("/");
    expect(canonicalPath("/apps/site/index.html")).toBe("/apps/site/index.html");
    expect(canonicalPath("/100%25")).toBe("/100%25");
    expect(canonicalPath("/100%25off")).toBe("/100%25off");
    expect(canonicalPath("//evil.example/x")).toBe("//evil.example/x");
    expect(canonicalPath("//[/x")).toBe("//[/x");
  });

  test("dot segments that decoding uncovers are resolved", () => {
    expect(canonicalPath("/api/%2e%2e/secret")).toBe("/secret");
    expect(canonicalPath("/api/.%2E/secret")).toBe("/secret");
    expect(canonicalPath("/api/%2e/x")).toBe("/api/x");
  });

  test("ambiguous paths are refused", () => {
    for (const path of [
      "/api%2f..%2fsecret",
      "/api/..%2Fsecret",
      "/api/..%5csecret",
      "/api/%252e%252e/secret",
      "/api/%252Fsecret",
      "/api/%00",
      "/api/%0d%0a",
      "/api/%7F",
      "/api/..;/secret",
      "/%%41a",
      "/100%",
      "/a%zz",
      "/api/.;x/secret",
      "/api\\x",
      "/a b",
      "api/x",
      "",
    ])
      expect([path, canonicalPath(path)]).toEqual([path, undefined]);
  });
});
