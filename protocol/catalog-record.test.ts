import { describe, expect, test } from "bun:test";
import { APP_ORIGIN_PREFIX, decodeAppOrigin, encodeAppOrigin } from "./catalog-record.ts";
import { signingKeyFromSeed } from "./ed25519.ts";
import { ProtocolError } from "./errors.ts";
import { publisherIdFromPublicKey } from "./ids.ts";

const key = `${APP_ORIGIN_PREFIX}notes`;
const publisher = publisherIdFromPublicKey(
  signingKeyFromSeed(new Uint8Array(32).fill(7)).publicKey,
);

describe("an app's origin record", () => {
  test("names its catalog and that catalog's publisher (null: the built-in one)", () => {
    for (const origin of [
      { catalog: "example-apps", publisher },
      { catalog: "builtin", publisher: null },
    ])
      expect(decodeAppOrigin(key, JSON.parse(encodeAppOrigin(origin)))).toEqual({
        app: "notes",
        ...origin,
      });
  });

  test("one written before publishers were recorded names none", () => {
    expect(decodeAppOrigin(key, { v: 1, catalog: "example-apps" })).toEqual({
      app: "notes",
      catalog: "example-apps",
      publisher: undefined,
    });
  });

  // Any member may write these: what is not one is refused, never read as another publisher.
  test("a record that is not one is refused", () => {
    for (const value of [
      { v: 3, catalog: "example-apps", publisher },
      { v: 2, catalog: "example-apps" },
      { v: 2, catalog: "example-apps", publisher: "not a key" },
      { v: 2, catalog: "example-apps", publisher: 7 },
      { v: 2, catalog: "example-apps", publisher, extra: true },
      { v: 1, catalog: "example-apps", publisher },
      { v: 2, catalog: "../x", publisher },
      "example-apps",
    ])
      expect(() => decodeAppOrigin(key, value)).toThrow(ProtocolError);
    expect(() =>
      decodeAppOrigin("system/store/apps/../x", { v: 2, catalog: "a", publisher: null }),
    ).toThrow(ProtocolError);
  });
});
