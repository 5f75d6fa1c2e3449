/**
 * The end of a move (`bucky app move`) of an app placed on any device, once it arrived.
 * While the move is under way the spec names where it goes (`moveTo`); once the device it
 * went to holds the app's data, the holder's claim keeps the app there while it is live
 * (placement is sticky to the data), and the target has nothing left to say. Left in the
 * spec, it outlived the move: when that device died and a standby took over, every device
 * said the app was moving back to it, counted the dead device among its standbys, and
 * moved the app back (stopped, then started there) as soon as it returned, which nobody
 * asked for. An app with no data has no holder to keep it there: its target stays.
 *
 * The device says the move arrived beside the spec (appKeys.arrived, naming the move by its
 * movedAt), and every reader takes the target as over while the spec names that move
 * (lib/apps/spec.ts: amended): written into the spec, from this device's view, it undid
 * whatever a person said of the app meanwhile on a device it had not heard yet.
 */
import type { ZoneWriter } from "../zone/zone-writer.ts";
import { type ArrivedMove, appKeys, readSpec } from "./spec.ts";

/**
 * Ends the move of `app` to `device`, written by that device once it holds the app's
 * data. Nothing when the spec says otherwise by now (another move, a pin, a removal).
 */
export function endArrivedMove(
  zone: Pick<ZoneWriter, "db" | "write" | "log">,
  app: string,
  device: string,
): void {
  const current = readSpec(zone.db, app);
  if (current?.moveTo !== device || current.placement !== "any" || current.desired === "removed")
    return;
  const arrived: ArrivedMove = { device, movedAt: current.movedAt ?? null };
  zone.write([{ key: appKeys.arrived(app), value: JSON.stringify(arrived) }]);
  zone.log.info("app moved", { app, to: device });
}
