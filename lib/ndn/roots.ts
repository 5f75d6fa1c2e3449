/**
 * What keeps named data on this device: each kind of root says which objects it needs
 * now (a chunk list keeps its chunks too). An object no root names is collected after a
 * grace period (lib/ndn/collect.ts). A new kind of thing stored as named data (container
 * images, say) registers a root of its own with the collector; nothing else changes.
 *
 * The kinds bucky has:
 *   put          what the owner stored with `bucky put`, until `bucky rm`
 *   app-package  the packages of the apps installed: the current version of each, and the
 *                one before it (to go back to)
 *   public       objects the zone serves to anyone (`bucky put --public`), within its
 *                budget for them (lib/gateway/public-budget.ts)
 *   stored-file  this device's copies of the files the zone stores (lib/ndn/stored-files.ts),
 *                within its budget for them, until `bucky rm` on any device; the objects
 *                apps store through their API are among them, until the app lets them go
 */
import { type ObjectId, parseObjectId } from "../../protocol/ndn.ts";
import { readSpecs } from "../apps/spec.ts";
import { sizesWithinBudget } from "../gateway/public-budget.ts";
import type { StateQueries } from "../store/db.ts";
import { ndnPins, node } from "../store/schema.ts";
import { storedFilesBudget } from "./stored-files.ts";

export interface RootKind {
  /** Its name, as `bucky status --disk` and `bucky rm` say it. */
  readonly kind: string;
  /** The objects it needs now. */
  ids(): Iterable<ObjectId>;
}

/** The roots every device has, read from its state database. */
export function builtInRoots(db: StateQueries): RootKind[] {
  return [
    {
      kind: "put",
      *ids() {
        for (const row of db.select({ id: ndnPins.id }).from(ndnPins).all())
          if (parseObjectId(row.id)) yield row.id as ObjectId;
      },
    },
    {
      kind: "app-package",
      *ids() {
        for (const spec of readSpecs(db)) {
          if (spec.desired === "removed") continue;
          yield spec.package;
          if (spec.previousPackage) yield spec.previousPackage;
        }
      },
    },
    {
      kind: "public",
      // Those within the zone's budget for public files: the gateways' copies of the rest,
      // which no gateway serves, go, so the budget bounds their disks.
      ids: () => sizesWithinBudget(db).keys(),
    },
    {
      kind: "stored-file",
      // Those within the zone's budget for stored files, which every device copies; one
      // past it stays on the device that stored it, kept by its pin (put), or an app's by
      // its record, written here.
      *ids() {
        const { within, past } = storedFilesBudget(db);
        for (const record of within) yield record.id;
        const self = db.select({ deviceId: node.deviceId }).from(node).get()?.deviceId;
        for (const record of past)
          if (record.app !== null && record.author === self) yield record.id;
      },
    },
  ];
}
