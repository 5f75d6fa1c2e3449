/**
 * `bucky rm <id>`: release a file stored with `bucky put` on this device; with --public,
 * first make it private again, zone-wide (what `bucky put --public` made it).
 */
import { BuckyError } from "../lib/errors.ts";
import { type Released, releaseObject } from "../lib/ndn/files.ts";
import { requestDaemon } from "../lib/node/daemon-client.ts";
import { pathAsked } from "../lib/node/held-wait.ts";
import { extraRoots } from "../lib/node/named-data-roots.ts";
import { ndnGraceMs } from "./collection-times.ts";
import { defineBuckyCommand } from "./command.ts";
import { waitArgs } from "./held-elsewhere.ts";

type Removed =
  | (Released & { public?: undefined })
  | {
      id: string;
      public: false;
      /** Whether it was public (a gateway served it) until now. */
      wasPublic: boolean;
      /** What releasing it on this device did; null when it was not stored here with bucky put. */
      released: Released | null;
      /** Present, and false, when answered without waiting for another device (--no-wait). */
      waited?: false;
    };

export default defineBuckyCommand({
  meta: {
    name: "rm",
    description:
      "Release a file stored with bucky put on this device: it is deleted after a day, unless something else uses it",
    examples: [
      "bucky rm sha256:…",
      "bucky rm --public sha256:…   # no gateway serves it any more (zone-wide), then release it here",
    ],
  },
  args: {
    id: { type: "positional", required: true, description: "The id bucky put printed" },
    public: {
      type: "boolean",
      description:
        "Stop the zone's gateways serving it at /ndn/<id> (from any device; needs the daemon), then release it here if stored here",
    },
    ...waitArgs(),
  },
  async run(args, context): Promise<Removed> {
    const release = () =>
      releaseObject(context.home, args.id, context.log, {
        nowMs: context.now(),
        graceMs: ndnGraceMs(context.env),
        extraRoots: ({ db, paths, store }) => extraRoots(db, paths, store),
      });
    if (!args.public) return release();
    const { id, wasPublic, waited } = await requestDaemon<{
      id: string;
      wasPublic: boolean;
      waited?: false;
    }>(context.home, "DELETE", pathAsked(`/v1/ndn/public/${encodeURIComponent(args.id)}`, args));
    let released: Released | null = null;
    try {
      released = release();
    } catch (error) {
      // Made public from another device: nothing of it to release here.
      if (!(error instanceof BuckyError && error.code === "E_NOT_FOUND")) throw error;
      if (!wasPublic)
        throw new BuckyError(
          "E_NOT_FOUND",
          `${id} is neither public nor a file stored on this device with bucky put`,
          "Check the id `bucky put` printed.",
        );
    }
    return { id, public: false, wasPublic, released, ...(waited === false ? { waited } : {}) };
  },
  text: (removed) => {
    if (removed.public === undefined) return releasedText(removed);
    const made = removed.wasPublic
      ? `${removed.id} is no longer public: the zone's gateways stop serving it as they sync.`
      : `${removed.id} was not public.`;
    return removed.released
      ? `${made}\n${releasedText(removed.released)}`
      : `${made}\nIt was not stored on this device with bucky put: nothing to release here.`;
  },
});

function releasedText(released: Released): string {
  if (released.collectedAfter)
    return `Released ${released.id}: it is deleted after ${released.collectedAfter} (until then \`bucky put\` of the same file keeps it).`;
  const uses = released.keptBy.length === 1 ? "uses" : "use";
  const kept = `Released ${released.id} from what you stored; it stays while ${released.keptBy.join(" and ")} ${uses} it.`;
  return released.keptBy.includes("public")
    ? `${kept} To stop serving it to anyone: \`bucky rm --public ${released.id}\`.`
    : kept;
}
