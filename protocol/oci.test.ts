import { describe, expect, test } from "bun:test";
import { ProtocolError } from "./errors.ts";
import {
  checkDigest,
  chooseManifest,
  MEDIA_TYPES,
  parseImageConfig,
  parseImageDocument,
  sha256Digest,
} from "./oci.ts";

const json = (value: unknown) => new TextEncoder().encode(JSON.stringify(value));
const d = (n: number) => `sha256:${n.toString(16).padStart(64, "0")}`;

const manifest = {
  schemaVersion: 2,
  mediaType: MEDIA_TYPES.ociManifest,
  config: { mediaType: MEDIA_TYPES.ociConfig, digest: d(1), size: 458 },
  layers: [
    { mediaType: "application/vnd.oci.image.layer.v1.tar+gzip", digest: d(2), size: 1083801 },
  ],
};

const index = {
  schemaVersion: 2,
  mediaType: MEDIA_TYPES.ociIndex,
  manifests: [
    {
      mediaType: MEDIA_TYPES.ociManifest,
      digest: d(10),
      size: 500,
      platform: { os: "linux", architecture: "arm", variant: "v6" },
    },
    {
      mediaType: MEDIA_TYPES.ociManifest,
      digest: d(11),
      size: 500,
      platform: { os: "unknown", architecture: "unknown" },
    },
    {
      mediaType: MEDIA_TYPES.ociManifest,
      digest: d(12),
      size: 500,
      platform: { os: "linux", architecture: "arm64" },
    },
    {
      mediaType: MEDIA_TYPES.dockerManifest,
      digest: d(13),
      size: 500,
      platform: { os: "linux", architecture: "amd64" },
    },
  ],
};

function problem(work: () => unknown): string {
  try {
    work();
  } catch (error) {
    if (error instanceof ProtocolError) return error.message;
    throw error;
  }
  throw new Error("no problem found");
}

describe("image documents", () => {
  test("a manifest: its config and layers", () => {
    expect(parseImageDocument(json(manifest))).toEqual({
      kind: "manifest",
      mediaType: MEDIA_TYPES.ociManifest,
      config: manifest.config,
      layers: manifest.layers,
    });
  });

  test("a Docker manifest without a media type of its own takes the registry's", () => {
    const { mediaType: _, ...bare } = manifest;
    expect(
      parseImageDocument(json(bare), `${MEDIA_TYPES.dockerManifest}; charset=utf-8`),
    ).toMatchObject({
      kind: "manifest",
      mediaType: MEDIA_TYPES.dockerManifest,
    });
  });

  test("an index: the manifest for each machine, skipping attestations and other variants", () => {
    const parsed = parseImageDocument(json(index));
    if (parsed.kind !== "index") throw new Error("not an index");
    const linux = (architecture: string, variant?: string) => ({
      os: "linux",
      architecture,
      ...(variant ? { variant } : {}),
    });
    expect(chooseManifest(parsed, linux("amd64"))?.digest).toBe(d(13));
    expect(chooseManifest(parsed, linux("arm64", "v8"))?.digest).toBe(d(12));
    expect(chooseManifest(parsed, linux("arm", "v7"))).toBeUndefined();
    expect(chooseManifest(parsed, linux("s390x"))).toBeUndefined();
  });

  test.each<[string, unknown, string]>([
    ["schema 1", { schemaVersion: 1 }, "only image manifests of schema version 2 are supported"],
    [
      "an artifact",
      { ...manifest, mediaType: "application/vnd.cncf.helm.chart" },
      '"application/vnd.cncf.helm.chart" is not an image manifest bucky can read (Docker schema 1 and artifacts are not)',
    ],
    [
      "a sha512 layer",
      { ...manifest, layers: [{ ...manifest.layers[0], digest: `sha512:${"a".repeat(128)}` }] },
      `layer 0 digest "sha512:${"a".repeat(128)}" is not sha256 (the only digest bucky checks)`,
    ],
    [
      "a foreign layer",
      { ...manifest, layers: [{ ...manifest.layers[0], urls: ["https://example.com/l"] }] },
      "layer 0 is to be fetched from elsewhere (a foreign layer): not supported",
    ],
    [
      "a layer of another kind",
      { ...manifest, layers: [{ ...manifest.layers[0], mediaType: "application/x-evil" }] },
      'layer 0 is of type "application/x-evil", which is not a layer bucky can run (a plain, gzip or zstd tar)',
    ],
    [
      "a negative size",
      { ...manifest, config: { ...manifest.config, size: -1 } },
      "manifest config size must be a whole number from 0 to 8388608",
    ],
    [
      "300 layers",
      { ...manifest, layers: Array.from({ length: 300 }, () => manifest.layers[0]) },
      "an image has at most 256 layers",
    ],
    [
      "a platform with odd characters",
      {
        ...index,
        manifests: [{ ...index.manifests[0], platform: { os: "linux", architecture: "amd64\n" } }],
      },
      'index entry 0 platform "amd64\n" has characters it may not',
    ],
  ])("refuses %s", (_what, value, message) => {
    expect(problem(() => parseImageDocument(json(value)))).toBe(message);
  });

  test("refuses what is not JSON, or too large", () => {
    expect(problem(() => parseImageDocument(new Uint8Array([0xff, 0xfe])))).toStartWith(
      "the image manifest is not JSON",
    );
    expect(problem(() => parseImageDocument(new Uint8Array(4 * 1024 * 1024 + 1)))).toBe(
      "an image manifest is at most 4194304 bytes",
    );
  });
});

describe("image configs", () => {
  test("say their platform and the TCP ports they expose", () => {
    const config = {
      architecture: "arm64",
      os: "linux",
      variant: "v8",
      config: { ExposedPorts: { "8080/tcp": {}, "53/udp": {}, "9000": {}, "x/tcp": {} } },
    };
    expect(parseImageConfig(json(config))).toEqual({
      platform: { os: "linux", architecture: "arm64", variant: "v8" },
      exposedPorts: [8080, 9000],
    });
  });

  test("without a platform is refused", () => {
    expect(problem(() => parseImageConfig(json({ os: "linux" })))).toBe(
      "image config architecture must be a string",
    );
  });
});

describe("digests", () => {
  test("bytes match their digest, and nothing else does", () => {
    const bytes = json(manifest);
    const digest = sha256Digest(bytes);
    expect(() => checkDigest(bytes, digest, "the manifest")).not.toThrow();
    const flipped = new Uint8Array(bytes);
    flipped[3] = (flipped[3] as number) ^ 1;
    expect(problem(() => checkDigest(flipped, digest, "the manifest"))).toBe(
      `the manifest does not match its digest ${digest}`,
    );
    expect(problem(() => checkDigest(bytes, "md5:x", "the manifest"))).toBe(
      'the manifest: "md5:x" is not a sha256 digest',
    );
  });
});
