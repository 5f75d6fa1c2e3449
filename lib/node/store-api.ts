/**
 * The app store in the local API (for `bucky store …` and the panel): the store as the
 * zone sees it, adding, refreshing and removing catalogs, and installs, which run as jobs
 * (fetching the package, then waiting for the app to run) that whoever asked watches.
 */
import { join } from "node:path";
import { Hono } from "hono";
import type { CatalogRecord } from "../../protocol/catalog-record.ts";
import { parsePublisherId } from "../../protocol/ids.ts";
import type { ObjectId } from "../../protocol/ndn.ts";
import type { Installed } from "../apps/admin.ts";
import { appStatus, placementCandidates } from "../apps/status.ts";
import { BUILTIN_CATALOG, builtinCatalog } from "../catalog/builtin.ts";
import { CATALOG_FILE_BYTES } from "../catalog/catalog-archive.ts";
import { untilCatalogHeldElsewhere } from "../catalog/catalog-held.ts";
import {
  acceptCatalog,
  type CatalogNode,
  CatalogStaging,
  previewCatalog,
  refreshCatalog,
  removeCatalog,
} from "../catalog/catalogs.ts";
import { installFromCatalog } from "../catalog/install.ts";
import { parseCatalogSource } from "../catalog/sources.ts";
import { findEntry, storeView } from "../catalog/store-view.ts";
import { BuckyError } from "../errors.ts";
import { appAddresses } from "../gateway/gateways.ts";
import { fetchToStore, peerSource, storeSource } from "../ndn/fetch.ts";
import { asksToWait, type HeldAnswer, heldAnswer, heldAsAsked, installHeld } from "./held-wait.ts";
import { jsonObject } from "./http.ts";
import type { Jobs } from "./jobs.ts";
import type { NodeContext } from "./node-context.ts";
import { boundedChunks } from "./request-body.ts";

/** How long an install waits for the app to run before it says how it stands. */
const SETTLE_TIMEOUT_MS = 60_000;
const SETTLE_POLL_MS = 250;
/** An offline device may be just starting, not yet heard of: it gets this long. */
const OFFLINE_GRACE_MS = 5_000;

/** An install's result: the app installed, and how it stands once it settled. */
export interface StoreInstalled extends Installed, HeldAnswer {
  readonly state: string;
  readonly runsOn: string | null;
  /** What went wrong: the zone's words, or those of `reportedBy` (its report). */
  readonly error: string | null;
  /** The device whose report `error` is, as it wrote it (saidBy); null for the zone's own words. */
  readonly reportedBy: string | null;
  readonly addresses: readonly string[];
}

/** What the catalogs need of the running node. */
export function catalogNode(node: NodeContext): CatalogNode {
  return {
    db: node.db,
    store: node.store,
    deviceName: node.deviceName,
    log: node.log,
    now: () => node.now(),
    write: (ops) => node.write(ops),
    zoneSources: () => [
      storeSource(node.store),
      ...node.peers().map((peer) => peerSource(node.client, peer)),
    ],
  };
}

export function storeRoutes(node: NodeContext, jobs: Jobs, liveWindowMs: number): Hono {
  const app = new Hono();
  const catalogs = catalogNode(node);
  const staging = new CatalogStaging(join(node.zone.paths.home, "store", "uploads"), node.now);

  app.get("/", async (c) => c.json(await storeView(catalogs, c.req.query("q") ?? undefined)));

  // One app: the store's view of it and its descriptions, as text, by language.
  app.get("/apps/:catalog/:app", async (c) => {
    const { catalog, app: id } = c.req.param();
    const view = (await storeView(catalogs)).apps.find((a) => a.catalog === catalog && a.id === id);
    if (!view) throw new BuckyError("E_NOT_FOUND", `catalog ${catalog} lists no app ${id}`);
    const descriptions: Record<string, string> = {};
    for (const [language, object] of Object.entries(view.description))
      descriptions[language] = new TextDecoder().decode(
        await objectBytes(catalogs, catalog, object),
      );
    return c.json({ app: view, descriptions });
  });

  // An app's icon, as stored: only the icons the catalogs name, never any other object.
  app.get("/icons/:catalog/:app", async (c) => {
    const { entry } = await findEntry(catalogs, c.req.param("catalog"), c.req.param("app"));
    if (!entry.icon) throw new BuckyError("E_NOT_FOUND", `${entry.id} has no icon`);
    const bytes = await objectBytes(catalogs, c.req.param("catalog"), entry.icon);
    return new Response(bytes, { headers: { "content-type": "application/octet-stream" } });
  });

  app.post("/catalogs/preview", async (c) => {
    const body = (await jsonObject(c)) as { source?: unknown };
    if (typeof body.source !== "string" || body.source.trim() === "")
      throw new BuckyError("E_USAGE", 'the body must be {"source": "<https://… or /dir>"}');
    return c.json(await previewCatalog(catalogs, staging, parseCatalogSource(body.source)));
  });
  // A catalog file (a .tar or .tar.gz of a catalog's directory), as the body: unpacked as
  // it arrives, never held whole, and no more of it read once it is refused.
  app.post("/catalogs/preview-file", async (c) => {
    const { source, unpacked } = await staging.unpack(
      boundedChunks(c.req.raw, CATALOG_FILE_BYTES, "a catalog file"),
    );
    return c.json(await previewCatalog(catalogs, staging, source, unpacked));
  });
  app.post("/catalogs", async (c) => {
    const body = (await jsonObject(c)) as { token?: unknown; publisher?: unknown };
    const publisher = parsePublisherId(String(body.publisher ?? ""));
    if (typeof body.token !== "string" || !publisher)
      throw new BuckyError(
        "E_USAGE",
        'the body must be {"token": "<from the preview>", "publisher": "<the accepted publisher id>"}',
      );
    const wait = asksToWait(c);
    const record = await acceptCatalog(catalogs, staging, body.token, publisher);
    return c.json({ ...record, ...(await catalogHeld(record, wait)) });
  });
  app.post("/catalogs/:name/refresh", async (c) => {
    const wait = asksToWait(c);
    const refreshed = await refreshCatalog(catalogs, c.req.param("name"));
    // Up to date: nothing new of it was stored here to wait for.
    const held = refreshed.updated
      ? await catalogHeld(refreshed.record, wait)
      : await heldAnswer(node, `catalog ${refreshed.record.name}`, { wait });
    return c.json({ ...refreshed, ...held });
  });
  /**
   * How held a catalog added or updated here is: once another device holds its record and
   * what it names (catalog-held.ts). Asked not to wait, at once, its objects not asked after.
   */
  const catalogHeld = async (record: CatalogRecord, wait: boolean): Promise<HeldAnswer> => {
    if (wait) return { heldElsewhere: await untilCatalogHeldElsewhere(node, catalogs, record) };
    const held = await heldAnswer(node, `catalog ${record.name}`, { wait: false });
    return { ...held, heldElsewhere: held.heldElsewhere === "alone" ? "alone" : "not yet" };
  };
  app.delete("/catalogs/:name", async (c) => {
    const removed = removeCatalog(catalogs, c.req.param("name"));
    // Said removed only once another device holds it: lost with this one, the catalog's
    // apps would go on being offered everywhere else.
    const held = await heldAsAsked(c, node, `removal of catalog ${removed.name}`);
    return c.json({ ...removed, ...held });
  });

  app.post("/install", async (c) => {
    const body = (await jsonObject(c)) as { catalog?: unknown; app?: unknown; device?: unknown };
    if (typeof body.catalog !== "string" || typeof body.app !== "string")
      throw new BuckyError("E_USAGE", 'the body must be {"catalog": "<name>", "app": "<id>"}');
    const request = {
      catalog: body.catalog,
      app: body.app,
      ...(typeof body.device === "string" && body.device ? { device: body.device } : {}),
    };
    const wait = asksToWait(c);
    // Refused at once when the catalog or app is not there: no job for a typo.
    await findEntry(catalogs, request.catalog, request.app);
    return c.json(
      jobs.start("install", request.app, async (report): Promise<StoreInstalled> => {
        report.step("fetching");
        const installed = await installFromCatalog(node, catalogs, request, (done, total) =>
          report.progress({ done, total, unit: "bytes" }),
        );
        report.step("starting");
        // Answered once another device holds it (its package too) and the app settled, as
        // `bucky app install` is; asked not to wait, as soon as it is written.
        const held = await installHeld(node, installed, { wait });
        const status = wait
          ? await settled(node, installed.app, liveWindowMs)
          : appStatus(node, installed.app, liveWindowMs);
        return {
          ...installed,
          state: status.state,
          runsOn: status.device,
          error: status.error,
          reportedBy: status.reportedBy,
          addresses: appAddresses(node, installed.app),
          ...held,
        };
      }),
    );
  });
  return app;
}

/** An object a catalog names: from this device, the others, else the built-in bytes. */
async function objectBytes(node: CatalogNode, catalog: string, id: ObjectId): Promise<Uint8Array> {
  if (catalog === BUILTIN_CATALOG) {
    const bytes = builtinCatalog().objects.get(id);
    if (bytes) return bytes;
  }
  const stored = node.store.readObject(id);
  if (stored) return stored;
  await fetchToStore(id, node.store, node.zoneSources());
  return node.store.readObject(id) as Uint8Array;
}

/**
 * Waits while the app is on its way up on a device heard alive (as `bucky app install`
 * does: cmd/app/install.ts); returns how it stands then. For a device offline, a minute
 * was waited before saying what was known after five seconds.
 */
async function settled(node: NodeContext, app: string, liveWindowMs: number) {
  const startedAt = node.now();
  for (;;) {
    const status = appStatus(node, app, liveWindowMs);
    const waited = node.now() - startedAt;
    const device = status.device;
    const onItsWay =
      device !== null &&
      (status.state === "pending" || status.state === "starting") &&
      waited < SETTLE_TIMEOUT_MS &&
      (waited < OFFLINE_GRACE_MS ||
        placementCandidates(node, liveWindowMs).live.some((live) => live.name === device));
    if (!onItsWay) return status;
    await Bun.sleep(SETTLE_POLL_MS);
  }
}
