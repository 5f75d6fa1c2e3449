/**
 * `bucky rm <id>`: let a file stored with `bucky put` go, zone-wide, from any device (every
 * device deletes its copy a day later); with --public, first make it private again,
 * zone-wide (what `bucky put --public` made it).
 */
import { BuckyError } from "../lib/errors.ts";
import { type Released, releaseObject } from "../lib/ndn/files.ts";
import { isDaemonDown, requestDaemon } from "../lib/node/daemon-client.ts";
import { pathAsked } from "../lib/node/held-wait.ts";
import { extraRoots } from "../lib/node/named-data-roots.ts";
import type { HeldElsewhere } from "../lib/node/node-context.ts";
import { ndnGraceMs } from "./collection-times.ts";
import { defineBuckyCommand } from "./command.ts";
import { notHeldYetNote, waitArgs } from "./held-elsewhere.ts";

/** What releasing it did: zone-wide (`zoneWide`), and here. */
type Let = Released & {
  /** Whether the zone stored it until now: every device lets its copy go. */
  zoneWide: boolean;
  /** Whether another device held the release when answered (null: nothing was written). */
  heldElsewhere: HeldElsewhere | null;
  /** Present, and false, when answered without waiting for another device (--no-wait). */
  waited?: false;
};

/**
 * One shape with or without --public (scripts read the same fields either way): what
 * releasing it did, flat, and what making it private did.
 */
type Removed = Let & {
  /** Whether it was public (a gateway served it) until now; null without --public. */
  wasPublic: boolean | null;
  /** Whether the zone or this device stored it with bucky put (false: nothing let go). */
  wasStored: boolean;
};

export default defineBuckyCommand({
  meta: {
    name: "rm",
    description:
      "Let a file stored with bucky put go, zone-wide (from any device): every device deletes it after a day, unless something else uses it",
    examples: [
      "bucky rm sha256:…",
      "bucky rm --public sha256:…   # no gateway serves it any more (zone-wide), then let it go",
    ],
  },
  args: {
    id: { type: "positional", required: true, description: "The id bucky put printed" },
    public: {
      type: "boolean",
      description:
        "Stop the zone's gateways serving it at /ndn/<id> (from any device; needs the daemon), then let it go if stored",
    },
    ...waitArgs(),
  },
  async run(args, context): Promise<Removed> {
    const release = async (): Promise<Let> => {
      let zone:
        | {
            wasStored: boolean;
            storedHere: boolean;
            heldElsewhere: HeldElsewhere | null;
            waited?: false;
          }
        | undefined;
      try {
        zone = await requestDaemon(
          context.home,
          "DELETE",
          pathAsked(`/v1/ndn/files/${encodeURIComponent(args.id)}`, args),
        );
      } catch (error) {
        // No daemon: a file the zone has no record of (put before this) is let go here;
        // releaseObject refuses one the zone stores.
        if (!isDaemonDown(error)) throw error;
      }
      const released = releaseObject(context.home, args.id, context.log, {
        nowMs: context.now(),
        graceMs: ndnGraceMs(context.env),
        extraRoots: ({ db, paths, store }) => extraRoots(db, paths, store),
        releasedZoneWide: zone?.wasStored ?? false,
      });
      return {
        ...released,
        // The daemon may have let the pin go before this could (it heard the release).
        storedHere: released.storedHere || (zone?.storedHere ?? false),
        zoneWide: zone?.wasStored ?? false,
        heldElsewhere: zone?.heldElsewhere ?? null,
        ...(zone?.waited === false ? { waited: false as const } : {}),
      };
    };
    if (!args.public) return { ...(await release()), wasPublic: null, wasStored: true };
    const { id, wasPublic, waited } = await requestDaemon<{
      id: string;
      wasPublic: boolean;
      waited?: false;
    }>(context.home, "DELETE", pathAsked(`/v1/ndn/public/${encodeURIComponent(args.id)}`, args));
    try {
      const released = await release();
      return {
        ...released,
        wasPublic,
        wasStored: true,
        ...(waited === false ? { waited } : {}),
      };
    } catch (error) {
      // Made public, never stored with bucky put: nothing of it to let go.
      if (!(error instanceof BuckyError && error.code === "E_NOT_FOUND")) throw error;
      if (!wasPublic)
        throw new BuckyError(
          "E_NOT_FOUND",
          `${id} is neither public nor a file stored with bucky put`,
          "Check the id `bucky put` printed.",
        );
    }
    return {
      id: id as Let["id"],
      storedHere: false,
      keptBy: [],
      collectedAfter: null,
      zoneWide: false,
      heldElsewhere: null,
      wasPublic,
      wasStored: false,
      ...(waited === false ? { waited } : {}),
    };
  },
  text: (removed) => {
    if (removed.wasPublic === null) return releasedText(removed);
    const made = removed.wasPublic
      ? `${removed.id} is no longer public: the zone's gateways stop serving it as they sync.`
      : `${removed.id} was not public.`;
    return removed.wasStored
      ? `${made}\n${releasedText(removed)}`
      : `${made}\nIt was not stored with bucky put: nothing to let go.`;
  },
});

function releasedText(released: Let): string {
  const where = released.zoneWide ? " zone-wide" : "";
  const notHeld = notHeldYetNote(
    {
      heldElsewhere: released.heldElsewhere ?? "held",
      ...(released.waited === false ? { waited: false as const } : {}),
    },
    "release",
  );
  if (released.collectedAfter)
    return [
      `Released ${released.id}${where}: it is deleted after ${released.collectedAfter} (until then \`bucky put\` of the same file keeps it).`,
      ...notHeld,
    ].join("\n");
  const uses = released.keptBy.length === 1 ? "uses" : "use";
  const kept = `Released ${released.id}${where} from what you stored; it stays while ${released.keptBy.join(" and ")} ${uses} it.`;
  return [
    released.keptBy.includes("public")
      ? `${kept} To stop serving it to anyone: \`bucky rm --public ${released.id}\`.`
      : kept,
    ...notHeld,
  ].join("\n");
}
