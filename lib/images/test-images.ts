/** Image archives for tests, as `podman save` writes them (lib/archive/test-archives.ts tars them). */
import { createHash } from "node:crypto";

export const digestOf = (text: string) =>
  `sha256:${createHash("sha256").update(text).digest("hex")}`;

/**
 * What `podman save --format oci-archive` writes for one image of `layers`: its entries,
 * for tar(), the blob of layer `altered` (if any) not the bytes its manifest names.
 */
export function ociArchive(layers: readonly string[], altered?: number) {
  const blob = (text: string) => [`blobs/sha256/${digestOf(text).slice(7)}`, text] as const;
  const config = JSON.stringify({
    os: "linux",
    architecture: "amd64",
    rootfs: { type: "layers", diff_ids: layers.map(digestOf) },
  });
  const manifest = JSON.stringify({
    schemaVersion: 2,
    mediaType: "application/vnd.oci.image.manifest.v1+json",
    config: {
      mediaType: "application/vnd.oci.image.config.v1+json",
      digest: digestOf(config),
      size: config.length,
    },
    layers: layers.map((layer) => ({
      mediaType: "application/vnd.oci.image.layer.v1.tar",
      digest: digestOf(layer),
      size: layer.length,
    })),
  });
  const index = JSON.stringify({
    schemaVersion: 2,
    manifests: [
      {
        mediaType: "application/vnd.oci.image.manifest.v1+json",
        digest: digestOf(manifest),
        size: manifest.length,
        annotations: { "org.opencontainers.image.ref.name": "localhost/site:1" },
      },
    ],
  });
  return [
    ...layers.map((layer, i) => {
      const [path] = blob(layer);
      // The same length, other bytes: only its digest tells.
      return [path, i === altered ? layer.replace(/^./, "#") : layer] as [string, string];
    }),
    [...blob(config)],
    [...blob(manifest)],
    ["oci-layout", '{"imageLayoutVersion":"1.0.0"}'],
    ["index.json", index],
  ] as [string, string][];
}
