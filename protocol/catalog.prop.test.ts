/**
 * App catalogs verify to exactly what their publisher signed, and any single bit flipped
 * in one is refused with a ProtocolError.
 */
import { describe, expect, test } from "bun:test";
import fc from "fast-check";
import { type CatalogEntry, signCatalog, verifyCatalog } from "./catalog.ts";
import { signingKeyFromSeed } from "./ed25519.ts";
import { ProtocolError } from "./errors.ts";
import type { AppName } from "./names.ts";
import type { ObjectId } from "./ndn.ts";

const publisher = signingKeyFromSeed(new Uint8Array(32).fill(7));
const hex = fc
  .uint8Array({ minLength: 32, maxLength: 32 })
  .map((b) => Buffer.from(b).toString("hex"));
const objectId = hex.map((h) => `sha256:${h}` as ObjectId);
const name = fc.stringMatching(/^[a-z][a-z0-9]{0,20}$/);
const text = fc.string({ minLength: 1, maxLength: 40 }).filter((t) => t.trim().length > 0);
const texts = fc.record({ en: text, "zh-CN": text }, { requiredKeys: ["en"] });
const entry: fc.Arbitrary<CatalogEntry> = fc
  .record({
    id: name,
    version: fc.stringMatching(/^[0-9]{1,3}\.[0-9]{1,3}\.[0-9]{1,3}$/),
    title: texts,
    summary: texts,
    icon: fc.option(objectId, { nil: null }),
    pkg: objectId,
    description: fc.option(objectId, { nil: undefined }),
  })
  .map(({ pkg, description, ...e }) => ({
    ...e,
    id: e.id as AppName,
    description: (description ? { en: description } : {}) as Record<string, ObjectId>,
    manifest: { id: e.id, version: e.version, run: { command: ["bun", "server.ts"] } },
    package: pkg,
    image: null,
  }));
const fields = fc.record({
  name,
  title: texts,
  version: fc.nat({ max: 2 ** 40 }),
  issuedAt: fc.nat({ max: 2 ** 40 }),
  apps: fc.uniqueArray(entry, { selector: (e) => e.id, maxLength: 4 }),
});

function flipBit(text: string, index: number, bit: number): string {
  const flipped = String.fromCharCode(text.charCodeAt(index) ^ (1 << bit));
  return `${text.slice(0, index)}${flipped}${text.slice(index + 1)}`;
}

function errorOf(run: () => unknown): unknown {
  try {
    run();
  } catch (error) {
    return error;
  }
  return undefined;
}

describe("app catalogs", () => {
  test("verify to exactly what the publisher signed; a flipped bit is refused", () => {
    fc.assert(
      fc.property(fields, fc.nat(), fc.nat(7), (signed, position, bit) => {
        const catalog = signCatalog(signed, publisher);
        expect(verifyCatalog(catalog.jws, catalog.publisher)).toEqual(catalog);
        expect(catalog).toMatchObject({ ...signed, apps: signed.apps });
        const changed = flipBit(catalog.jws, position % catalog.jws.length, bit);
        expect(errorOf(() => verifyCatalog(changed, catalog.publisher))).toBeInstanceOf(
          ProtocolError,
        );
      }),
      { numRuns: 200 },
    );
  });
});
