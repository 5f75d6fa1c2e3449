/** An image record decodes to exactly what was encoded, and any change to its bytes is refused or seen. */
import { describe, expect, test } from "bun:test";
import fc from "fast-check";
import { ProtocolError } from "./errors.ts";
import { decodeImageRecord, encodeImageRecord, type ImageRecord } from "./image-record.ts";
import { CHUNK_BYTES } from "./ndn.ts";
import { MAX_LAYER_BYTES } from "./oci.ts";

const hex = fc
  .uint8Array({ minLength: 32, maxLength: 32 })
  .map((b) => Buffer.from(b).toString("hex"));
const smallBlob = fc
  .record({ hex, size: fc.integer({ min: 0, max: CHUNK_BYTES }) })
  .map(({ hex: h, size }) => ({ digest: `sha256:${h}`, size, object: `sha256:${h}` }));
const largeBlob = fc
  .record({ hex, list: hex, size: fc.integer({ min: CHUNK_BYTES + 1, max: MAX_LAYER_BYTES }) })
  .map(({ hex: h, list, size }) => ({ digest: `sha256:${h}`, size, object: `clist:${list}` }));
const blob = fc.oneof(smallBlob, largeBlob);
const typed = smallBlob.map((b) => ({
  ...b,
  mediaType: "application/vnd.oci.image.manifest.v1+json",
}));
const image = (platform: string) =>
  fc.record({
    platform: fc.constant(platform),
    manifest: typed,
    config: smallBlob,
    layers: fc.array(blob, { maxLength: 5 }),
  });

const record: fc.Arbitrary<ImageRecord> = fc.oneof(
  image("linux/amd64").map((one) => ({
    ref: "docker.io/library/x:1",
    digest: one.manifest.digest,
    images: [one],
  })),
  fc
    .record({ index: typed, a: image("linux/amd64"), b: image("linux/arm64/v8") })
    .map(({ index, a, b }) => ({
      ref: "ghcr.io/o/p:2",
      digest: index.digest,
      index,
      images: [a, b],
    })),
);

describe("image records", () => {
  test("round-trip", () => {
    fc.assert(
      fc.property(record, (r) => {
        expect(decodeImageRecord(encodeImageRecord(r))).toEqual(r);
      }),
      { numRuns: 200 },
    );
  });

  test("a flipped bit is refused, or decodes to something else", () => {
    fc.assert(
      fc.property(record, fc.nat(), fc.integer({ min: 0, max: 7 }), (r, at, bit) => {
        const bytes = encodeImageRecord(r);
        const flipped = new Uint8Array(bytes);
        const i = at % flipped.length;
        flipped[i] = (flipped[i] as number) ^ (1 << bit);
        try {
          expect(decodeImageRecord(flipped)).not.toEqual(r);
        } catch (error) {
          if (!(error instanceof ProtocolError)) throw error;
        }
      }),
      { numRuns: 300 },
    );
  });

  test("a small blob is named by its own digest; a large one by a chunk list", () => {
    const one = {
      digest: `sha256:${"a".repeat(64)}`,
      size: 10,
      object: `sha256:${"b".repeat(64)}`,
      mediaType: "m",
    };
    expect(() =>
      encodeImageRecord({
        ref: "x",
        digest: one.digest,
        images: [{ platform: "linux/amd64", manifest: one, config: one, layers: [] }],
      }),
    ).toThrow("image 0 manifest fits one chunk but is not named by its digest");
    const big = { ...one, object: one.digest, size: CHUNK_BYTES + 1 };
    const manifest = { ...one, object: one.digest };
    expect(() =>
      encodeImageRecord({
        ref: "x",
        digest: one.digest,
        images: [{ platform: "linux/amd64", manifest, config: manifest, layers: [big] }],
      }),
    ).toThrow("image 0 layer 0 is larger than a chunk but not a chunk list");
  });

  test("without an index, the record's digest is its one manifest's", () => {
    const manifest = {
      digest: `sha256:${"a".repeat(64)}`,
      size: 1,
      object: `sha256:${"a".repeat(64)}`,
      mediaType: "m",
    };
    expect(() =>
      encodeImageRecord({
        ref: "x",
        digest: `sha256:${"c".repeat(64)}`,
        images: [{ platform: "linux/amd64", manifest, config: manifest, layers: [] }],
      }),
    ).toThrow("an image record without an index holds the one manifest its digest names");
  });
});
