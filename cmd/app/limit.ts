/** `bucky app limit <app>`: cap an app's requests and bandwidth at the gateways. */

import { BuckyError } from "../../lib/errors.ts";
import type { LimitsAnswer } from "../../lib/gateway/app-limits.ts";
import type { AppLimits } from "../../lib/gateway/table.ts";
import { requestDaemon } from "../../lib/node/daemon-client.ts";
import { type HeldAnswer, pathAsked } from "../../lib/node/held-wait.ts";
import { defineBuckyCommand } from "../command.ts";
import { notHeldYetNote, waitArgs } from "../held-elsewhere.ts";

export default defineBuckyCommand({
  meta: {
    name: "limit",
    description:
      "Limit an app's requests per second and bandwidth at every gateway (no limit given: show them)",
    examples: [
      "bucky app limit notes --rps 20 --bandwidth 10MB/s",
      "bucky app limit notes --rps none        # no request limit, whatever its manifest says",
      "bucky app limit notes --bandwidth default   # its manifest's",
      "bucky app limit notes                   # the limits in force",
    ],
  },
  args: {
    app: { type: "positional", required: true, description: "The app's id" },
    rps: {
      type: "string",
      valueHint: "n|none|default",
      description: "Requests per second; more get 429 (none: no limit; default: the manifest's)",
    },
    bandwidth: {
      type: "string",
      valueHint: "rate|none|default",
      description:
        "Bytes per second, like 10MB/s; more is slowed down (none: no limit; default: the manifest's)",
    },
    ...waitArgs(),
  },
  run: (args, context) => {
    const path = `/v1/apps/${encodeURIComponent(args.app)}/limits`;
    if (args.rps === undefined && args.bandwidth === undefined)
      return requestDaemon<LimitsAnswer & Partial<HeldAnswer>>(context.home, "GET", path);
    return requestDaemon<LimitsAnswer & Partial<HeldAnswer>>(
      context.home,
      "PUT",
      pathAsked(path, args),
      {
        ...(args.rps !== undefined ? { rps: rpsAsked(args.rps) } : {}),
        ...(args.bandwidth !== undefined ? { bandwidth: args.bandwidth } : {}),
      },
    );
  },
  text: ({ app, limits, manifest, set, ...held }) =>
    [
      `${app}: ${said(limits, manifest, set, "rps")}, ${said(limits, manifest, set, "bandwidthBytesPerSecond")}.`,
      ...notHeldYetNote(held, "limit"),
    ].join("\n"),
});

/** `--rps` as asked: a whole number, or the word for no limit or the manifest's. */
function rpsAsked(rps: string): number | "none" | "default" {
  if (rps === "none" || rps === "default") return rps;
  // Checked here: a word read as a number is NaN, which JSON sends as null, and null is none.
  if (!/^\d+$/.test(rps) || Number(rps) < 1)
    throw new BuckyError(
      "E_USAGE",
      `--rps ${JSON.stringify(rps)} is no request limit`,
      "A whole number of requests a second, none (no limit) or default (the manifest's).",
    );
  return Number(rps);
}

/** A rate in the decimal units `--bandwidth` takes (10MB/s is 10,000,000 bytes a second). */
function rate(bytesPerSecond: number): string {
  const [unit, size] =
    bytesPerSecond >= 1e9
      ? ["GB", 1e9]
      : bytesPerSecond >= 1e6
        ? ["MB", 1e6]
        : bytesPerSecond >= 1e3
          ? ["KB", 1e3]
          : ["B", 1];
  return `${Number((bytesPerSecond / size).toFixed(2))}${unit}/s`;
}

/** One limit in force, and whose it is when the manifest's. */
function said(
  limits: AppLimits,
  manifest: AppLimits,
  set: LimitsAnswer["set"],
  limit: keyof AppLimits,
): string {
  const value = limits[limit];
  const what =
    value === undefined
      ? limit === "rps"
        ? "no request limit"
        : "no bandwidth limit"
      : limit === "rps"
        ? `${value} requests/s`
        : rate(value);
  return set[limit] === undefined && manifest[limit] !== undefined
    ? `${what} (its manifest's)`
    : what;
}
