/** `bucky store install <app>`: install (or update) an app from the zone's app store. */
import type { StoreView } from "../../lib/catalog/store-view.ts";
import { BuckyError } from "../../lib/errors.ts";
import { saidBy } from "../../lib/facts/said-by.ts";
import type { Messages } from "../../lib/i18n/messages.ts";
import { requestDaemon } from "../../lib/node/daemon-client.ts";
import { pathAsked } from "../../lib/node/held-wait.ts";
import type { JobView } from "../../lib/node/jobs.ts";
import type { StoreInstalled } from "../../lib/node/store-api.ts";
import { defineBuckyCommand } from "../command.ts";
import { notHeldYetNote, waitArgs } from "../held-elsewhere.ts";

const POLL_MS = 250;

export default defineBuckyCommand({
  meta: {
    name: "install",
    description:
      "Install an app from the zone's app store, or update it to its catalog's newer version (its data is kept)",
    examples: [
      "bucky store install notes",
      "bucky store install memo --catalog example-apps --device nas",
    ],
  },
  args: {
    app: {
      type: "positional",
      required: true,
      description: "The app's id (see `bucky store list`)",
    },
    catalog: {
      type: "string",
      valueHint: "name",
      description: "The catalog to take it from, when several list it",
    },
    device: { type: "string", valueHint: "name", description: "Run it on this device" },
    ...waitArgs("the app runs (at most a minute)"),
  },
  async run(args, context) {
    const store = await requestDaemon<StoreView>(context.home, "GET", "/v1/store");
    const catalog = args.catalog ?? chooseCatalog(store, args.app);
    let job = await requestDaemon<JobView>(
      context.home,
      "POST",
      pathAsked("/v1/store/install", args),
      {
        catalog,
        app: args.app,
        ...(args.device ? { device: args.device } : {}),
      },
    );
    while (job.state === "running") {
      await Bun.sleep(POLL_MS);
      job = await requestDaemon<JobView>(context.home, "GET", `/v1/jobs/${job.id}`);
    }
    if (job.state === "failed" && job.error)
      throw new BuckyError(
        (job.error.code as ConstructorParameters<typeof BuckyError>[0]) ?? "E_INTERNAL",
        job.error.message,
        job.error.hint,
      );
    return { catalog, ...(job.result as StoreInstalled) };
  },
  text: (r, _args, t) => installedText(r, t),
});

/** What `bucky store install` says of the app it installed and how it stands. */
export function installedText(
  r: StoreInstalled & { readonly catalog: string },
  t: Messages,
): string {
  const s = t.cli.store;
  return [
    r.upgradedFrom
      ? s.upgraded({ app: r.app, from: r.upgradedFrom, version: r.version })
      : s.installedApp({ app: r.app, version: r.version, catalog: r.catalog }),
    r.state !== "running"
      ? s.notRunning({
          state: r.state,
          // The running device's report is its words (a member writes its own as it likes).
          error:
            r.error === null || r.reportedBy === null
              ? (r.error ?? "")
              : saidBy(r.reportedBy, r.error),
        })
      : r.addresses[0]
        ? s.runsAt({ device: r.runsOn ?? "", address: r.addresses[0] })
        : s.runsNoGateway({ device: r.runsOn ?? "" }),
    ...notHeldYetNote(r, "install"),
  ].join("\n");
}

/** The catalog to install `app` from: the only one listing it, or the one it came from. */
function chooseCatalog(store: StoreView, app: string): string {
  const listing = store.apps.filter((a) => a.id === app);
  if (listing.length === 0)
    throw new BuckyError(
      "E_NOT_FOUND",
      `no catalog of the zone lists an app ${app}`,
      "See the apps with `bucky store list`, or add a catalog with `bucky store add`.",
    );
  if (listing.length === 1) return (listing[0] as (typeof listing)[number]).catalog;
  const origin = listing.find((a) => a.installed?.from === a.catalog);
  if (origin) return origin.catalog;
  throw new BuckyError(
    "E_USAGE",
    `${app} is in several catalogs: ${listing.map((a) => a.catalog).join(", ")}`,
    "Say which with --catalog.",
  );
}
