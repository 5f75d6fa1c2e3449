/**
 * Pins the origin records an older bucky wrote (version 1: a catalog's name, no publisher)
 * to the catalog's publisher, so that another publisher's catalog of the same name, added
 * once the app's own was removed, is not taken for where the app came from: its "update"
 * would take the app's data over. Until pinned, such an app is offered no update from any
 * added catalog (lib/catalog/records.ts isOrigin); the built-in catalog's updates are the
 * binary's, and need no pin.
 *
 * A device pins an app's origin when it holds the signed index of the zone's catalog of
 * that name and that index lists the very package the app runs: that publisher signed the
 * app's code, so its newer versions are the app's updates. One that lists another package
 * (a newer version, or another publisher's app of that id) proves nothing, and the origin
 * stays unpinned: the owner reinstalls the app from the catalog they trust. Every device
 * does this by itself and writes the same record, so whichever goes away, the pin holds.
 */
import {
  APP_ORIGIN_PREFIX,
  appOriginKey,
  CATALOG_RECORD_PREFIX,
  encodeAppOrigin,
} from "../../protocol/catalog-record.ts";
import type { Op } from "../../protocol/changeset.ts";
import { appKeys, readSpecs } from "../apps/spec.ts";
import type { ObjectStore } from "../ndn/store.ts";
import type { NodeContext } from "../node/node-context.ts";
import type { StateQueries } from "../store/db.ts";
import { heldCatalog, readAppOrigins, readCatalogRecords } from "./records.ts";

export interface KeptPins {
  /** Looks again (a catalog's index was just copied here, say). */
  soon(): void;
  stop(): void;
}

/** The pins the state and this device's store allow now, as the ops that write them. */
export function originPins(db: StateQueries, store: ObjectStore): Op[] {
  const unpinned = [...readAppOrigins(db)].filter(([, origin]) => origin.publisher === undefined);
  if (unpinned.length === 0) return [];
  const running = new Map(
    readSpecs(db)
      .filter((spec) => spec.desired !== "removed")
      .map((spec) => [spec.app, spec.package]),
  );
  const records = new Map(readCatalogRecords(db).map((record) => [record.name, record]));
  return unpinned.flatMap(([app, { catalog }]) => {
    const pkg = running.get(app);
    if (pkg === undefined) return [];
    // The built-in catalog has no record: its apps' origins need no pin (isOrigin).
    const record = records.get(catalog);
    const listed = record && heldCatalog(store, record)?.apps.find((entry) => entry.id === app);
    if (!record || listed?.package !== pkg) return [];
    return [
      { key: appOriginKey(app), value: encodeAppOrigin({ catalog, publisher: record.publisher }) },
    ];
  });
}

export function keepOriginsPinned(node: NodeContext): KeptPins {
  let stopped = false;
  const soon = () => {
    if (stopped) return;
    const pins = originPins(node.db, node.store);
    if (pins.length === 0) return;
    node.write(pins);
    for (const pin of pins)
      node.log.info("app origin pinned to its catalog's publisher", {
        app: pin.key.slice(APP_ORIGIN_PREFIX.length),
      });
  };
  const touches = (key: string) =>
    key.startsWith(APP_ORIGIN_PREFIX) ||
    key.startsWith(CATALOG_RECORD_PREFIX) ||
    key.startsWith(appKeys.specPrefix);
  const stops = [
    node.onChange((changesets) => {
      if (changesets.some((c) => c.ops.some((op) => touches(op.key)))) soon();
    }),
    node.onRebase(soon),
  ];
  soon();
  return {
    soon,
    stop() {
      stopped = true;
      for (const stop of stops) stop();
    },
  };
}
