/**
 * Installing an image app: its image is pulled into the zone first (from its registry, or
 * from a file), for every platform the zone's devices that run images are, and only then
 * is its spec written, naming the image's record and, in its manifest, the digest its
 * reference resolved to. Anything that fails before leaves the zone as it was: no spec, no
 * app (what a pull fetched stays as named data, for the next try; what an install from a
 * file stored goes with it, lib/images/archive.ts).
 */

import { basename } from "node:path";
import { type AppManifest, type ImageRun, isImageRun } from "../../protocol/app-manifest.ts";
import { parseImageRef } from "../../protocol/image-ref.ts";
import { suggestName } from "../../protocol/names.ts";
import type { Platform } from "../../protocol/oci.ts";
import { checkPlacement, type Installed, type InstallOptions, writeSpec } from "../apps/admin.ts";
import { validManifest } from "../apps/package-dir.ts";
import { appKeys } from "../apps/spec.ts";
import { BuckyError } from "../errors.ts";
import { stateValue } from "../store/reads.ts";
import { standingOf } from "../sync/membership.ts";
import type { ZoneWriter } from "../zone/zone-writer.ts";
import { readImageArchive } from "./archive.ts";
import { cannotRunImagesBecause, imagePlatformOf, readAllEngineFacts } from "./engine-facts.ts";
import type { ImageStore } from "./image-store.ts";
import { type PulledImage, pullImage } from "./pull.ts";

export interface ImageInstallOptions extends InstallOptions {
  /** Take the image from this file (`docker save`, OCI archive) instead of its registry. */
  readonly archive?: string;
  /** Without a port in the manifest, use the one port the image says it exposes. */
  readonly portFromImage?: boolean;
  /** The version is the image's: its tag, or its digest for `latest` (the shorthand). */
  readonly versionFromImage?: boolean;
}

export async function installImageApp(
  zone: ZoneWriter,
  images: ImageStore,
  manifest: AppManifest,
  options: ImageInstallOptions = {},
): Promise<Installed> {
  if (!isImageRun(manifest.run))
    throw new BuckyError("E_INTERNAL", `${manifest.id} is not an image app`);
  const run: ImageRun = manifest.run;
  if (options.unsandboxed)
    throw new BuckyError(
      "E_USAGE",
      "--unsandboxed is for apps run from a command: an image app always runs in its container",
    );
  const placement = checkPlacement(zone, manifest, options);
  const platforms = imagePlatforms(zone, placement, manifest.id);
  // The pull can take minutes: what the spec said then is what this install was decided on.
  const specBefore = stateValue(zone.db, appKeys.spec(manifest.id));
  let pulled: PulledImage;
  if (options.archive) {
    pulled = await readImageArchive(options.archive, { platforms, images });
  } else {
    const ref = parseImageRef(run.image);
    if (!ref.ok)
      throw new BuckyError(
        "E_INVALID_INPUT",
        `"${run.image}" is not an image reference: ${ref.reason}`,
      );
    pulled = await pullImage(ref.ref, { platforms, images, log: zone.log });
  }
  const port =
    run.port ??
    (options.portFromImage && pulled.exposedPorts.length === 1
      ? pulled.exposedPorts[0]
      : undefined);
  // The spec names the image by its digest: every device runs the same bytes.
  const version =
    options.versionFromImage && manifest.version === "0"
      ? pulled.record.digest.slice("sha256:".length, "sha256:".length + 12)
      : manifest.version;
  const installed: AppManifest = {
    ...manifest,
    version,
    run: { ...run, image: pulled.pinned, ...(port === undefined ? {} : { port }) },
  };
  const record = images.putRecord(pulled.record);
  // Moved, removed, stopped or installed again meanwhile (by a person, on any device): the
  // spec written now would undo it, placed and pulled for where the app was. Nothing await
  // from here to the write.
  if (stateValue(zone.db, appKeys.spec(manifest.id)) !== specBefore)
    throw new BuckyError(
      "E_UNAVAILABLE",
      `${manifest.id} changed while its image was fetched (moved, removed, stopped or installed again, on this device or another): nothing was installed`,
      "Run the install again: the image is kept here, so it is not fetched again.",
    );
  return writeSpec(zone, installed, record, placement, {
    image: { platforms: pulled.record.images.map((image) => image.platform) },
  });
}

/**
 * The platforms to pull for: those of the members that run images (of the one device an
 * app is pinned to, when it is); refused, saying how to fix it, when no device can.
 */
function imagePlatforms(zone: ZoneWriter, placement: string, app: string): Platform[] {
  const membership = zone.membership();
  const engines = readAllEngineFacts(zone.db);
  const devices = [...membership.byId.values()]
    .filter((member) => standingOf(membership, member.id) === "member")
    .map((member) => member.name as string)
    .filter((name) => placement === "any" || name === placement);
  const platforms = devices.flatMap((device) => {
    const platform = imagePlatformOf(engines.get(device));
    return platform ? [platform] : [];
  });
  if (platforms.length > 0) return platforms;
  const why = devices
    .map((device) => cannotRunImagesBecause(device, engines.get(device)))
    .join("; ");
  throw new BuckyError(
    "E_UNAVAILABLE",
    `${placement === "any" ? "no device of the zone can" : `${placement} cannot`} run ${app}'s container image (${why})`,
    "Install Podman where it should run (`apt-get install podman runc`) and restart bucky there (`bucky stop && bucky up`); `bucky status` shows which devices run images.",
  );
}

/** What `bucky app install --image REF [--port N] [--data name:/path,…] [--id ID]` says. */
export interface ImageShorthand {
  /** A reference, or (with `archive`) nothing: the file names its image. */
  readonly image?: string;
  readonly archive?: string;
  readonly port?: number;
  readonly data?: Readonly<Record<string, string>>;
  readonly id?: string;
}

/**
 * The manifest of a single-container app from the shorthand: its id from the image's name
 * (or --id), its version from the image's tag (or, for `latest` or none, its digest, once
 * known: see installImageApp).
 */
export function shorthandManifest(shorthand: ImageShorthand): AppManifest {
  const image = shorthand.image ?? "localhost/archive";
  const ref = parseImageRef(image);
  if (!ref.ok)
    throw new BuckyError("E_INVALID_INPUT", `"${image}" is not an image reference: ${ref.reason}`);
  const name = shorthand.archive
    ? basename(shorthand.archive).replace(/\.(tar|tgz|tar\.gz)$/, "")
    : (ref.ref.repository.split("/").pop() as string);
  const id = shorthand.id ?? suggestName(name.replace(/[._]/g, "-"));
  if (!id)
    throw new BuckyError(
      "E_USAGE",
      `no app id can be made from ${name}`,
      "Name the app with --id.",
    );
  const tag = ref.ref.tag;
  return validManifest(
    {
      id,
      version: tag && tag !== "latest" && /^[0-9A-Za-z.+-]{1,32}$/.test(tag) ? tag : "0",
      run: { image, ...(shorthand.port === undefined ? {} : { port: shorthand.port }) },
      ...(shorthand.data ? { data: shorthand.data } : {}),
    },
    "the app",
  );
}
