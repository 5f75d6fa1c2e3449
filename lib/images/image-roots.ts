/**
 * The `image` root of named data (lib/ndn/roots.ts): every part of the images the
 * installed apps run, and of the image each ran before (to go back to), as their records
 * name them. The record itself is the app's package, which the built-in roots keep.
 */
import type { ObjectId } from "../../protocol/ndn.ts";
import { readSpecs } from "../apps/spec.ts";
import { BuckyError } from "../errors.ts";
import type { RootKind } from "../ndn/roots.ts";
import type { StateQueries } from "../store/db.ts";
import { blobsOf, type ImageStore } from "./image-store.ts";

export function imageRoot(db: StateQueries, images: ImageStore): RootKind {
  return {
    kind: "image",
    *ids() {
      for (const spec of readSpecs(db)) {
        if (spec.desired === "removed" || !spec.image) continue;
        for (const id of [spec.package, spec.previousPackage]) {
          if (!id) continue;
          const record = recordOf(images, id);
          if (!record) continue;
          if (record.index) yield record.index.object as ObjectId;
          for (const image of record.images)
            for (const blob of blobsOf(image)) yield blob.object as ObjectId;
        }
      }
    },
  };
}

/** The record `id`, or undefined when it is not here or is no record (a package before). */
function recordOf(images: ImageStore, id: ObjectId) {
  try {
    return images.readRecord(id);
  } catch (error) {
    if (error instanceof BuckyError) return undefined;
    throw error;
  }
}
