/**
 * The API the CLI (and, later, the control panel) uses on this device, served on a Unix
 * socket in the home with mode 0600: being able to open the socket is the authorization.
 */

import { statSync } from "node:fs";
import { isAbsolute } from "node:path";
import { type Context, Hono } from "hono";
import { isImageRun } from "../../protocol/app-manifest.ts";
import type { DeviceId } from "../../protocol/ids.ts";
import { parseObjectId } from "../../protocol/ndn.ts";
import { encodeRelayTicket } from "../../protocol/relay.ts";
import { isBudgetKey, PUBLIC_BUDGET_KEY } from "../../protocol/zone-budget.ts";
import { type AuditEntry, readAudit, recordCall } from "../agent/audit.ts";
import {
  type AgentCall,
  checkAgentCall,
  grantAgent,
  listAgents,
  replacingGrant,
  revokeAgent,
} from "../agent/grants.ts";
import { AgentRates, RefusalBudgets, withSkipped } from "../agent/limits.ts";
import {
  type Installed,
  installApp,
  installArchive,
  installStoredPackage,
  moveApp,
  removeApp,
  restoreCopy,
  setDesired,
} from "../apps/admin.ts";
import { AppArchives, MAX_APP_ARCHIVE_BYTES } from "../apps/app-archive.ts";
import { appLogs, logLines } from "../apps/logs.ts";
import { readManifest, readManifestFile } from "../apps/package-dir.ts";
import { readSpec } from "../apps/spec.ts";
import { appStatus, appStatuses } from "../apps/status.ts";
import type { BackupScheduler } from "../backup/scheduler.ts";
import { LETS_ENCRYPT_DIRECTORY } from "../certs/acme.ts";
import type { ZoneCaIssuer } from "../certs/zone-ca-issuer.ts";
import { BuckyError } from "../errors.ts";
import { ownFacts } from "../facts/own-facts.ts";
import type { ReplicaFacts, UsageFacts } from "../facts/payload.ts";
import { usageFactsSteps } from "../facts/publisher.ts";
import { readZoneFacts } from "../facts/zone-facts.ts";
import { trafficReport, trafficSeries } from "../gateway/accounting.ts";
import { appLimits, limitsRequest, setLimits } from "../gateway/app-limits.ts";
import { approveGateway, ownApproval, proposedApproval } from "../gateway/approval.ts";
import {
  disableGateway,
  enableGateway,
  enableRelayOnly,
  parseGatewayRequest,
  readGateway,
} from "../gateway/config.ts";
import { appAddresses } from "../gateway/gateways.ts";
import type { GatewayHost } from "../gateway/host.ts";
import { PUBLIC_BUDGET_BYTES } from "../gateway/public-budget.ts";
import { untilCopiedByGateway } from "../gateway/public-copies.ts";
import { markPublic, unmarkPublic } from "../gateway/public-objects.ts";
import {
  addRule,
  describeRule,
  type RuleRequest,
  readRules,
  removeRule,
} from "../gateway/rules.ts";
import { createLoginLink, DEFAULT_LINK_TTL_MS } from "../gateway/sessions.ts";
import { zoneTraffic, zoneTrafficSince } from "../gateway/zone-traffic.ts";
import { ImageStore } from "../images/image-store.ts";
import type { Log } from "../log.ts";
import { untilHeldByPeers } from "../ndn/held-by-peers.ts";
import { requireObjectId } from "../ndn/object-id.ts";
import { isPinned } from "../ndn/pins.ts";
import { FILES_BUDGET_BYTES, recordStoredFile, releaseStoredFile } from "../ndn/stored-files.ts";
import { addRelay, listRelays, removeRelay } from "../relay/relays.ts";
import { drainProgress, startDrain } from "../replica/drain.ts";
import type { ConflictCopy } from "../replica/replication.ts";
import { runSliced } from "../sliced.ts";
import { budgetNotDeletable, ownerSignedBudget } from "../state/budgets.ts";
import { nextStampMs } from "../state/feed.ts";
import { deleteEntry, getEntry, type KeyValueStore, listEntries, setEntry } from "../state/kv.ts";
import { otherMemberNames } from "../sync/membership.ts";
import { personMayUseApp, reachOf } from "../users/access.ts";
import { checkDeviceChange } from "../users/account-rights.ts";
import {
  accountActor,
  addPerson,
  listPeople,
  removePerson,
  resetPerson,
  signOutPersonEverywhere,
} from "../users/accounts.ts";
import { DEFAULT_ENROLLMENT_TTL_MS } from "../users/enrollment.ts";
import { shareApp } from "../users/shares.ts";
import { listDevices, revokeDevice } from "../zone/devices.ts";
import { createInvite, listInvites, revokeInvite } from "../zone/invites.ts";
import { readNameClashes } from "../zone/name-clashes.ts";
import { describeZone } from "../zone/status.ts";
import type { PullFrom } from "../zone/zone-head.ts";
import { asksToWait, heldAnswer, heldAsAsked, heldByAnswer, installHeld } from "./held-wait.ts";
import { errorHandler, jsonBody, jsonObject, requestLog } from "./http.ts";
import { Jobs } from "./jobs.ts";
import { lazyRoutes } from "./lazy-routes.ts";
import { ACTING_FOR_HEADER } from "./local-client.ts";
import type { NodeContext } from "./node-context.ts";
import { AGENT_LOG_LIMIT, STATE_LIST_LIMIT, wholeNumberQuery } from "./query-number.ts";
import { boundedChunks } from "./request-body.ts";
import { optionalText } from "./request-fields.ts";

const STATE_PREFIX = "/v1/state/";
/** `since` is a time in ms; `bucketMs` a span of at most a year (0: no series). */
const SINCE = { min: 0, max: 8.64e15, absent: 0 };
const BUCKET_MS = { min: 0, max: 366 * 86_400_000, absent: 0 };

/** How long an agent's grant lasts unless it says. */
const DEFAULT_AGENT_TTL_MS = 30 * 24 * 3600_000;

export interface LocalServices {
  /** How long a device's heartbeat keeps its `any` apps with it. */
  readonly liveWindowMs: number;
  readonly gateway: GatewayHost;
  /** The backup schedule, on a device that holds the backup key. */
  readonly backups: () => BackupScheduler | undefined;
  /** Starts scheduled and hot backups if this device holds the backup key now. */
  readonly startBackups: () => boolean;
  /** The app data this device holds and keeps copies of. */
  readonly replicas: () => ReplicaFacts;
  /** Deletes a conflict copy this device keeps (`bucky app delete-copy`). */
  readonly deleteCopy: (app: string, name: string) => ConflictCopy;
  /** Publishes the agent audit recorded so far, soon (AuditPublisher.publishSoon). */
  readonly publishAuditSoon: () => Promise<void>;
  /** The zone CA, made on a device holding the owner key when first asked. */
  readonly zoneCa: ZoneCaIssuer;
  /** The bucky executable, for work run as a child (a first backup to a new target). */
  readonly runtime: string;
  /** Pulls from a peer now what it holds that this device lacks (the sync loop's pullNow). */
  readonly pullFrom: PullFrom;
  /** Says in this device's facts where its space goes, as just measured (FactsPublisher.measured). */
  readonly usageMeasured: (usage: UsageFacts) => void;
}

export function createLocalApp(
  node: NodeContext,
  log: Log,
  onBug: (error: unknown, request: Request) => void,
  services: LocalServices,
): Hono {
  const { liveWindowMs } = services;
  // Each agent's rate on this device, whichever way it reaches it; refusals' budgets.
  const agentLimits = { rates: new AgentRates(node.now), refusals: new RefusalBudgets(node.now) };
  const jobs = new Jobs(log, node.now, node.deviceName);
  const appArchives = new AppArchives(node.zone.paths.uploadsDir);
  const app = new Hono();
  app.use(requestLog(log, "local"));
  app.onError(errorHandler(log, onBug));
  // A wait asked as neither true nor false is refused before anything is written.
  app.use(async (c, next) => {
    asksToWait(c);
    await next();
  });
  const store: KeyValueStore = {
    db: node.db,
    write: (ops) => node.write(ops),
    nameOf: (id) => node.membership().byId.get(id as DeviceId)?.name,
  };

  // An install answers once another device holds it, as a stop or a removal does: one on
  // this device alone is lost with it (installHeld: its package too).
  const installAnswer = async (c: Context, installed: Installed) => ({
    ...installed,
    addresses: appAddresses(node, installed.app),
    ...(await installHeld(node, installed, { wait: asksToWait(c) })),
  });

  app.get("/v1/status", async (c) => {
    const disk = c.req.query("disk") === "1";
    // Its own disk measured now, in slices: the daemon answers others meanwhile. Said in
    // its facts too, so that every device shows what this one is shown.
    const usage = disk
      ? await runSliced(usageFactsSteps(node, node.now()), () => false)
      : undefined;
    if (usage) services.usageMeasured(usage);
    return c.json({
      ...describeZone(
        {
          db: node.db,
          home: node.zone.paths.home,
          zone: { id: node.zoneId, name: node.zone.zone.name },
          device: {
            id: node.deviceId,
            name: node.deviceName,
            holdsOwnerKey: node.zone.holdsOwnerKey,
          },
          membership: node.membership(),
          nowMs: node.now(),
          liveWindowMs,
          ownFacts: {
            ...ownFacts(node.zone.paths, node.db, node.deviceName),
            ...(usage ? { usage } : {}),
          },
          purgeGrants: node.purgeGrants,
          brokenChains: node.brokenChains.notes(node.membership(), node.deviceName),
        },
        { disk },
      ),
      addresses: node.addresses,
    });
  });

  // Every entry under the prefix (the CLI's `state list`), or the first `limit` (an agent's).
  app.get("/v1/state", (c) => {
    const limit = c.req.query("limit");
    return c.json({
      entries: listEntries(
        store,
        c.req.query("prefix") ?? "",
        limit === undefined ? undefined : wholeNumberQuery(limit, "limit", STATE_LIST_LIMIT),
      ),
    });
  });
  app.get(`${STATE_PREFIX}*`, (c) => c.json(getEntry(store, keyIn(c.req.path))));
  // A write answers once another device holds it, as every zone write does: one on this
  // device alone is lost with it.
  app.put(`${STATE_PREFIX}*`, async (c) => {
    const body = await jsonObject(c);
    if (!("value" in body)) throw new BuckyError("E_USAGE", 'the body must be {"value": …}');
    const key = keyIn(c.req.path);
    // The zone's budgets are the owner's: written signed, or not at all.
    const value = isBudgetKey(key)
      ? ownerSignedBudget(
          {
            zoneId: node.zoneId,
            holdsOwnerKey: node.zone.holdsOwnerKey,
            // Signed when its changeset will say it was written: the zone's time, which runs
            // ahead of this device's clock once that was set back.
            now: () => nextStampMs(node.db, node.deviceId, node.now()),
            ownerKey: () => node.ownerKey(),
          },
          key,
          body.value,
          key === PUBLIC_BUDGET_KEY ? PUBLIC_BUDGET_BYTES : FILES_BUDGET_BYTES,
        )
      : body.value;
    const entry = setEntry(store, key, value);
    return c.json({
      ...entry,
      ...(await heldAsAsked(c, node, `write of ${entry.key}`)),
    });
  });
  app.delete(`${STATE_PREFIX}*`, async (c) => {
    const key = keyIn(c.req.path);
    if (isBudgetKey(key))
      throw budgetNotDeletable(
        key,
        key === PUBLIC_BUDGET_KEY ? PUBLIC_BUDGET_BYTES : FILES_BUDGET_BYTES,
      );
    const deleted = deleteEntry(store, key);
    const held = await heldAsAsked(c, node, `deletion of ${deleted.key}`);
    return c.json({ ...deleted, ...held });
  });

  app.post("/v1/invites", async (c) => {
    // Asked from the panel, only for the owner (lib/users/account-rights.ts).
    checkDeviceChange(accountActor(node, c.req.header(ACTING_FOR_HEADER)), { kind: "invite" });
    const body = (await jsonObject(c)) as { ttlMs?: number; uses?: number; backupKey?: unknown };
    return c.json(
      createInvite(node, {
        ttlMs: Number(body.ttlMs),
        uses: Number(body.uses),
        givesBackupKey: body.backupKey !== false,
      }),
    );
  });
  app.get("/v1/invites", (c) => c.json({ invites: listInvites(node) }));
  app.post("/v1/invites/:id/revoke", async (c) => {
    const wait = asksToWait(c);
    const revoked = revokeInvite(node, c.req.param("id"));
    // Only its issuer admits with it: said done once the issuer holds the revocation (a
    // joiner racing it there is refused from then on), or that it does not yet; asked not
    // to wait, whether it already does.
    const inviter = node.membership().byName.get(revoked.inviter);
    const heardByInviter =
      revoked.revokedBy.includes(revoked.inviter) ||
      (inviter !== undefined &&
        (await heldByAnswer(node, inviter.id, `revocation of invitation ${revoked.id}`, {
          wait,
        })) === "held");
    return c.json({ ...revoked, heardByInviter, ...(wait ? {} : { waited: false as const }) });
  });

  app.get("/v1/devices", (c) =>
    c.json({
      devices: listDevices(node, node.contacts, liveWindowMs),
      nameClashes: readNameClashes(node.db, node.zoneId, node.membership()),
    }),
  );
  app.post("/v1/devices/:name/revoke", async (c) => {
    // Asked from the panel, only for the owner (lib/users/account-rights.ts).
    checkDeviceChange(accountActor(node, c.req.header(ACTING_FOR_HEADER)), {
      kind: "revoke",
      device: c.req.param("name"),
    });
    const revoked = await revokeDevice(node, c.req.param("name"), services.pullFrom);
    // Said done only once another device holds it: lost with this one, the device would
    // stay a member everywhere else, its later writes and requests taken.
    const held = await heldAsAsked(c, node, `revocation of device ${revoked.name}`);
    return c.json({ ...revoked, ...held });
  });
  // This device's own part in replication: what it holds, its copies, its conflict copies.
  app.get("/v1/replicas", (c) => c.json(services.replicas()));
  app.post("/v1/devices/:name/drain", async (c) => {
    const body = (await jsonObject(c)) as { cancel?: unknown };
    startDrain(node, c.req.param("name"), body.cancel !== true);
    return c.json(drainProgress(node, c.req.param("name"), liveWindowMs));
  });
  app.get("/v1/devices/:name/drain", (c) =>
    c.json(drainProgress(node, c.req.param("name"), liveWindowMs)),
  );

  app.post("/v1/apps", async (c) => {
    const body = (await jsonObject(c)) as {
      dir?: unknown;
      package?: unknown;
      device?: unknown;
      unsandboxed?: unknown;
      manifest?: unknown;
      image?: unknown;
      archive?: unknown;
      port?: unknown;
      data?: unknown;
      id?: unknown;
    };
    const options = {
      ...(typeof body.device === "string" && body.device ? { device: body.device } : {}),
      unsandboxed: body.unsandboxed === true,
    };
    if (typeof body.package === "string") {
      const parsed = parseObjectId(body.package.trim());
      if (!parsed)
        throw new BuckyError(
          "E_INVALID_INPUT",
          `${body.package} is not a package id`,
          "Ids look like sha256:<64 hex> or clist:<64 hex>.",
        );
      return c.json(
        await installAnswer(c, installStoredPackage(node, node.store, parsed.id, options)),
      );
    }
    const image = typeof body.image === "string" && body.image ? body.image : undefined;
    const archive = body.archive === undefined ? undefined : absolutePath(body.archive, "archive");
    // What installs image apps (pulling, registries, archives) is loaded when first used.
    const { installImageApp, shorthandManifest } = await import("../images/install.ts");
    const images = new ImageStore(node.store, node.zone.paths.imagesDir, node.room);
    if (body.dir === undefined) {
      if (!image && !archive)
        throw new BuckyError(
          "E_USAGE",
          'the body must be {"dir": "/absolute/path"}, {"package": "<id>"} or {"image": "<reference>", …}',
        );
      const manifest = shorthandManifest({
        ...(image ? { image } : {}),
        ...(archive ? { archive } : {}),
        ...(typeof body.port === "number" ? { port: body.port } : {}),
        ...(isStringMap(body.data) ? { data: body.data } : {}),
        ...(typeof body.id === "string" && body.id ? { id: body.id } : {}),
      });
      return c.json(
        await installAnswer(
          c,
          await installImageApp(node, images, manifest, {
            ...options,
            ...(archive ? { archive } : {}),
            portFromImage: body.port === undefined,
            versionFromImage: true,
          }),
        ),
      );
    }
    const dir = absolutePath(body.dir, "dir");
    // A manifest file, or an app's directory: an image app's image is pulled in; any other
    // app is packed.
    const isFile = statSync(dir, { throwIfNoEntry: false })?.isFile() === true;
    const manifest = isFile ? readManifestFile(dir) : readManifest(dir);
    if (!isImageRun(manifest.run)) {
      if (isFile)
        throw new BuckyError(
          "E_INVALID_INPUT",
          `${dir} is the manifest of an app run from a command: install its directory`,
          "A manifest alone installs an image app (one whose run names an image).",
        );
      return c.json(await installAnswer(c, installApp(node, node.store, dir, options)));
    }
    // --image with a manifest: its image, from another reference (or a file).
    const named = image ? { ...manifest, run: { ...manifest.run, image } } : manifest;
    return c.json(
      await installAnswer(
        c,
        await installImageApp(node, images, named, {
          ...options,
          ...(archive ? { archive } : {}),
        }),
      ),
    );
  });
  // A directory archive (.tar or .tar.gz), as the body: what a browser uploads. Unpacked
  // as it arrives (never held whole), refused as soon as it passes its bound.
  app.post("/v1/apps/archive", async (c) =>
    c.json(
      await installAnswer(
        c,
        await installArchive(
          node,
          node.store,
          appArchives,
          boundedChunks(c.req.raw, MAX_APP_ARCHIVE_BYTES, "an app archive"),
          {
            ...(c.req.query("device") ? { device: c.req.query("device") } : {}),
            unsandboxed: c.req.query("unsandboxed") === "1",
          },
        ),
      ),
    ),
  );
  app.get("/v1/apps", (c) => {
    // With ?for=<person>: only the apps that person may use (their agents' view).
    const person = c.req.query("for");
    const apps = appStatuses(node, liveWindowMs);
    if (person === undefined) return c.json({ apps });
    const found = node.people().people.get(person);
    // Each app's reach from its spec: a share names a person, and when it was set counts too.
    const reach = (app: (typeof apps)[number]) => {
      const spec = readSpec(node.db, app.app);
      return spec ? reachOf(spec) : app;
    };
    return c.json({
      apps: found ? apps.filter((app) => personMayUseApp(found, reach(app))) : [],
    });
  });
  // Where people reach it beside its state: from the zone state, so every device says the same.
  app.get("/v1/apps/:app", (c) => {
    const status = appStatus(node, c.req.param("app"), liveWindowMs);
    return c.json({ ...status, addresses: appAddresses(node, status.app) });
  });
  // Starting, stopping, removing and sharing (which may take access away) answer once
  // another device holds the change, as a revocation does: one on this device alone is lost
  // with it.
  app.post("/v1/apps/:app/start", async (c) => {
    const spec = setDesired(node, c.req.param("app"), "running");
    return c.json({
      ...spec,
      ...(await heldAsAsked(c, node, `start of ${spec.app}`)),
    });
  });
  app.post("/v1/apps/:app/stop", async (c) => {
    const spec = setDesired(node, c.req.param("app"), "stopped");
    return c.json({ ...spec, ...(await heldAsAsked(c, node, `stop of ${spec.app}`)) });
  });
  app.post("/v1/apps/:app/restore-copy", async (c) => {
    const body = (await jsonObject(c)) as { copy?: unknown };
    if (typeof body.copy !== "string" || body.copy === "")
      throw new BuckyError("E_USAGE", 'the body must be {"copy": "<name>"}');
    const status = appStatus(node, c.req.param("app"), liveWindowMs);
    const spec = restoreCopy(node, c.req.param("app"), body.copy, status.data?.conflicts ?? []);
    // Said on its way once another device holds it: lost with this one, nothing would come.
    return c.json({ ...spec, ...(await heldAsAsked(c, node, `restore of ${body.copy}`)) });
  });
  // A conflict copy is deleted only where it is kept, asked there: never through the zone
  // state, which any member writes (a stolen laptop must not delete the others' copies).
  app.post("/v1/apps/:app/delete-copy", async (c) => {
    const body = (await jsonObject(c)) as { copy?: unknown };
    if (typeof body.copy !== "string" || body.copy === "")
      throw new BuckyError("E_USAGE", 'the body must be {"copy": "<name>"}');
    const app = c.req.param("app");
    const copy = body.copy;
    let deleted: ConflictCopy;
    try {
      deleted = services.deleteCopy(app, copy);
    } catch (error) {
      const elsewhere = readZoneFacts(node.db, node.membership(), node.now(), liveWindowMs).find(
        (device) =>
          device.name !== node.deviceName &&
          device.facts.replicas?.conflicts[app]?.some((kept) => kept.name === copy),
      );
      if (!(error instanceof BuckyError && error.code === "E_NOT_FOUND" && elsewhere)) throw error;
      throw new BuckyError(
        "E_NOT_FOUND",
        `the conflict copy ${copy} of ${app} is kept on ${elsewhere.name}, not here`,
        `Run \`bucky app delete-copy ${app} ${copy}\` on ${elsewhere.name}.`,
      );
    }
    return c.json({ app, device: node.deviceName, ...deleted, deleted: true });
  });
  app.post("/v1/apps/:app/move", async (c) => {
    const body = (await jsonObject(c)) as { to?: unknown };
    if (typeof body.to !== "string" || body.to === "")
      throw new BuckyError("E_USAGE", 'the body must be {"to": "<device>"}');
    const moved = moveApp(node, c.req.param("app"), body.to);
    // Said moving only once another device holds it: lost with this one, the app would
    // stay where it is, and the device it was to go to never hear of it.
    return c.json({
      ...moved,
      ...(await heldAsAsked(c, node, `move of ${moved.app}`)),
    });
  });
  app.put("/v1/apps/:app/share", async (c) => {
    const body = (await jsonObject(c)) as { with?: unknown };
    const names = body.with;
    if (names !== null && !(Array.isArray(names) && names.every((n) => typeof n === "string")))
      throw new BuckyError("E_USAGE", 'the body must be {"with": ["name", …]} or {"with": null}');
    const spec = shareApp(node, c.req.param("app"), names as string[] | null);
    return c.json({
      ...spec,
      ...(await heldAsAsked(c, node, `sharing of ${spec.app}`)),
    });
  });
  app.delete("/v1/apps/:app", async (c) => {
    const removal = removeApp(
      node,
      c.req.param("app"),
      c.req.query("purge") === "1",
      c.req.query("force") === "1",
    );
    return c.json({
      ...removal,
      ...(await heldAsAsked(c, node, `removal of ${removal.app}`)),
    });
  });
  app.get("/v1/apps/:app/logs", async (c) =>
    c.json(await appLogs(node, c.req.param("app"), logLines(c.req.query("lines")), liveWindowMs)),
  );

  app.get("/v1/gateway", (c) =>
    c.json({
      config: readGateway(node.db, node.deviceName) ?? null,
      url: services.gateway.url ?? null,
      problem: services.gateway.problem,
      approval: ownApproval(node, node.deviceName, false) ?? null,
    }),
  );
  app.post("/v1/gateway", async (c) => {
    const body = parseGatewayRequest(await jsonObject(c));
    if (!body.relayOnly) {
      const config = enableGateway(node, node.zone.paths, node.deviceName, body, services.gateway, {
        acmeDirectory: LETS_ENCRYPT_DIRECTORY,
      });
      // On a device holding the owner key, its own names are approved now: zero steps more.
      const approval = ownApproval(node, node.deviceName, node.zone.holdsOwnerKey);
      return c.json({ ...config, ...(approval ? { approval } : {}) });
    }
    if (body.listen || body.host || body.certFile || body.keyFile || body.tls || body.httpListen) {
      throw new BuckyError(
        "E_USAGE",
        "a relay-only gateway serves no apps: --listen, --host and --tls* do not apply",
      );
    }
    enableRelayOnly(node, node.deviceName);
    const ticket = encodeRelayTicket({
      id: node.deviceId,
      name: node.deviceName,
      addrs: node.addresses,
      cert: node.certificatePem,
    });
    return c.json({ relayOnly: true, ticket });
  });
  app.delete("/v1/gateway", (c) => c.json(disableGateway(node, node.deviceName)));
  // What approving a gateway would approve, approving nothing: the names given (?hosts=,
  // ?addresses=, comma-separated), what it serves for the rest. Asked where it can be
  // approved (the owner key), so no one is asked to confirm in vain.
  app.get("/v1/gateway/approvals/:device", (c) => {
    node.ownerKey();
    // Asked from the panel, only for the owner (lib/users/account-rights.ts).
    checkDeviceChange(accountActor(node, c.req.header(ACTING_FOR_HEADER)), {
      kind: "approve-gateway",
      device: c.req.param("device"),
    });
    const named = (value: string | undefined) =>
      value === undefined ? undefined : value.split(",").filter((item) => item !== "");
    const hosts = named(c.req.query("hosts"));
    const addresses = named(c.req.query("addresses"));
    return c.json(
      proposedApproval(node, c.req.param("device"), {
        ...(hosts ? { hosts } : {}),
        ...(addresses ? { addresses } : {}),
      }),
    );
  });
  app.post("/v1/gateway/approvals", async (c) => {
    const body = (await jsonObject(c)) as {
      device?: unknown;
      hosts?: unknown;
      addresses?: unknown;
    };
    const list = (value: unknown, what: string) => {
      if (value === undefined) return undefined;
      if (!Array.isArray(value) || !value.every((item) => typeof item === "string"))
        throw new BuckyError("E_USAGE", `${what} must be a list of strings`);
      return value as string[];
    };
    if (typeof body.device !== "string" || body.device === "")
      throw new BuckyError("E_USAGE", 'the body must be {"device": "<name>", …}');
    checkDeviceChange(accountActor(node, c.req.header(ACTING_FOR_HEADER)), {
      kind: "approve-gateway",
      device: body.device,
    });
    const hosts = list(body.hosts, "hosts");
    const addresses = list(body.addresses, "addresses");
    const approved = approveGateway(node, node.deviceName, body.device, {
      ...(hosts ? { hosts } : {}),
      ...(addresses ? { addresses } : {}),
    });
    // Said approved only once another device holds it: lost with this one (the owner's
    // device, often a laptop), the gateway would never get its certificates.
    const held = await heldAsAsked(c, node, `approval of ${approved.device}`);
    return c.json({ ...approved, ...held });
  });
  // The zone CA's root, for the owner to trust on phones and laptops (made on a device
  // holding the owner key if there is none yet).
  app.post("/v1/ca", (c) => {
    const root = services.zoneCa.ensureRoot();
    if (!root)
      throw new BuckyError(
        "E_NOT_FOUND",
        "the zone has no certificate authority yet",
        "It is made by a device holding the owner key: run `bucky ca export` there (its daemon running).",
      );
    return c.json({
      pem: root.pem,
      fingerprint: root.cert.fingerprint256,
      notAfter: root.cert.validToDate.toISOString(),
    });
  });
  app.get("/v1/relays", (c) => c.json({ relays: listRelays(node) }));
  // Said done only once another device holds it: lost with this one, the relay would be
  // unknown (or still used) on every other device, the person told otherwise.
  app.post("/v1/relays", async (c) => {
    const body = (await jsonObject(c)) as { ticket?: unknown };
    const added = addRelay(node, String(body.ticket ?? ""));
    return c.json({
      ...added,
      ...(await heldAsAsked(c, node, `relay ${added.name}`)),
    });
  });
  app.delete("/v1/relays/:which", async (c) => {
    const { removed } = removeRelay(node, c.req.param("which"));
    const held = await heldAsAsked(c, node, `removal of relay ${removed.name}`);
    return c.json({ removed, ...held });
  });
  // The zone's traffic by complete hours, summed over every gateway (the same everywhere);
  // with `since`, its sums per app since then (`bucky traffic`).
  app.get("/v1/traffic/zone", (c) => {
    const devices = readZoneFacts(node.db, node.membership(), node.now(), liveWindowMs);
    if (c.req.query("since") === undefined)
      return c.json({ series: zoneTraffic(devices, node.now()) });
    const since = wholeNumberQuery(c.req.query("since"), "since", SINCE);
    return c.json(zoneTrafficSince(devices, node.now(), since, c.req.query("app")));
  });
  app.get("/v1/traffic", (c) => {
    services.gateway.flushTraffic();
    const since = wholeNumberQuery(c.req.query("since"), "since", SINCE);
    const bucketMs = wholeNumberQuery(c.req.query("bucketMs"), "bucketMs", BUCKET_MS);
    return c.json({
      since: new Date(since).toISOString(),
      apps: trafficReport(node.db, since, c.req.query("app")),
      ...(bucketMs > 0
        ? { series: trafficSeries(node.db, since, Math.max(60_000, bucketMs)) }
        : {}),
    });
  });
  // The backups' and the app store's routes are loaded when first asked for (lazy-routes.ts).
  lazyRoutes(app, "/v1/backups", () =>
    import("./backup-api.ts").then(({ backupRoutes }) =>
      backupRoutes(node, log, jobs, { ...services, liveWindowMs }),
    ),
  );
  lazyRoutes(app, "/v1/store", () =>
    import("./store-api.ts").then(({ storeRoutes }) => storeRoutes(node, jobs, liveWindowMs)),
  );
  app.get("/v1/jobs", (c) => c.json({ jobs: jobs.list() }));
  app.get("/v1/jobs/:id", (c) => c.json(jobs.get(c.req.param("id"))));
  app.post("/v1/agents", async (c) => {
    const body = (await jsonObject(c)) as {
      name?: unknown;
      read?: unknown;
      write?: unknown;
      act?: unknown;
      ttlMs?: unknown;
      user?: unknown;
    };
    const list = (value: unknown) => (Array.isArray(value) ? value.map(String) : []);
    const granted = grantAgent(node, {
      name: String(body.name ?? ""),
      read: list(body.read),
      write: list(body.write),
      act: list(body.act),
      ttlMs: Number(body.ttlMs ?? DEFAULT_AGENT_TTL_MS),
      // A person granting for themselves: the control panel says who.
      ...(typeof body.user === "string" ? { user: body.user } : {}),
    });
    // Said granted only once another device holds it: lost with this one, the token shown
    // once would work nowhere else (every gateway's /mcp) and never would.
    const held = await heldAsAsked(c, node, `grant of agent ${granted.record.agent}`);
    const replaced = replacingGrant(node, granted.record);
    if (replaced)
      throw new BuckyError(
        "E_EXISTS",
        `agent ${granted.record.agent} was granted through ${replaced.grantedBy} at the same moment, and that grant holds: this one's token would be refused everywhere`,
        `Give the agent the token ${replaced.grantedBy} gave, or grant it here under another name (\`bucky agent list\` shows this one as replaced).`,
      );
    return c.json({ ...granted, ...held });
  });
  app.get("/v1/agents", (c) => c.json({ agents: listAgents(node, c.req.query("user")) }));
  app.post("/v1/agents/:name/revoke", async (c) => {
    const body = c.req.header("content-type")?.startsWith("application/json")
      ? ((await jsonObject(c)) as { user?: unknown })
      : {};
    const revoked = revokeAgent(
      node,
      c.req.param("name"),
      typeof body.user === "string" ? body.user : undefined,
      liveWindowMs,
    );
    // Said done only once another device holds it: lost with this one, the agent would
    // go on working everywhere else.
    const held = await heldAsAsked(c, node, `revocation of agent ${revoked.agent}`);
    return c.json({ ...revoked, ...held });
  });
  // The grant a token carries as it applies here; with the call it is for, a refusal
  // is recorded in the audit log and published as a read is (below): not waited for, but
  // within AUDIT_SOON_GAP_MS, so a device killed a second later has lost none.
  app.post("/v1/agents/check", async (c) => {
    const body = (await jsonObject(c)) as { token?: unknown; call?: unknown };
    const call = body.call === undefined ? undefined : auditCall(body.call);
    return c.json(
      checkAgentCall(node, String(body.token ?? ""), call, agentLimits, () => {
        void services.publishAuditSoon();
      }),
    );
  });
  // A call that changed something (or set out to) is answered once its entry is in the
  // zone state and another device holds it: lost with this device, the change would stay
  // (an app stopped on another device) and nobody could say which agent made it.
  // Any other (a read, a call refused for what it asks, or at /v1/agents/check for its
  // token or its rate) is published within AUDIT_SOON_GAP_MS too, not waited for: a device
  // killed a second later keeps it (at most one changeset a second, shared with the
  // changes; docs/performance.md has its cost).
  // A call refused for the agent's calls at once is recorded within the agent's budget of
  // refusals on this device, as its token's and its rate's are.
  app.post("/v1/agents/audit", async (c) => {
    const body = (await jsonBody(c)) as { changed?: unknown; limited?: unknown };
    const entry = auditEntry(body);
    if (body.limited === true) {
      const budget = agentLimits.refusals.take(entry.agent);
      if (!budget.record) return c.json({ recorded: false });
      recordCall(
        node,
        { ...entry, outcome: withSkipped(entry.outcome, budget.skipped) },
        node.now(),
      );
      void services.publishAuditSoon();
      return c.json({ recorded: true });
    }
    recordCall(node, entry, node.now());
    if (body.changed !== true) {
      void services.publishAuditSoon();
      return c.json({ recorded: true });
    }
    await services.publishAuditSoon();
    const heldElsewhere = await node.untilHeldElsewhere(
      `the audit of agent ${entry.agent}'s ${entry.tool}`,
    );
    return c.json({ recorded: true, heldElsewhere });
  });
  app.get("/v1/agents/log", (c) => {
    const limit = wholeNumberQuery(c.req.query("limit"), "limit", AGENT_LOG_LIMIT);
    const agent = c.req.query("agent");
    return c.json({
      entries: readAudit(node.db, {
        self: node.deviceName,
        selfId: node.deviceId,
        ...(agent ? { agent } : {}),
        limit,
        nowMs: node.now(),
        log,
      }),
    });
  });
  // The people of the zone: adding, resetting and removing them needs the owner key, and
  // asked from the panel, the right to change that person (lib/users/account-rights.ts).
  const actorOf = (c: { req: { header(name: string): string | undefined } }) =>
    accountActor(node, c.req.header(ACTING_FOR_HEADER));
  app.get("/v1/users", (c) => c.json({ people: listPeople(node) }));
  app.post("/v1/users", async (c) => {
    const body = (await jsonObject(c)) as { name?: unknown; role?: unknown; ttlMs?: unknown };
    const added = addPerson(
      node,
      {
        name: String(body.name ?? ""),
        ...(typeof body.role === "string" ? { role: body.role } : {}),
        ttlMs: Number(body.ttlMs ?? DEFAULT_ENROLLMENT_TTL_MS),
      },
      actorOf(c),
    );
    // Said added only once another device holds it, as a reset is: lost with this one, the
    // link sent to the person would lead nowhere.
    const held = await heldAsAsked(c, node, `addition of ${added.user}`);
    return c.json({ ...added, ...held });
  });
  app.post("/v1/users/:name/reset", async (c) => {
    const body = (await jsonObject(c)) as { ttlMs?: unknown };
    const reset = resetPerson(
      node,
      c.req.param("name"),
      Number(body.ttlMs ?? DEFAULT_ENROLLMENT_TTL_MS),
      actorOf(c),
    );
    // Said done only once another device holds it: lost with this one, the person's old
    // password, passkeys and sessions would go on working on every other gateway.
    const held = await heldAsAsked(c, node, `reset of ${reset.user}`);
    return c.json({ ...reset, ...held });
  });
  app.delete("/v1/users/:name", async (c) => {
    const removed = removePerson(node, c.req.param("name"), actorOf(c));
    // Said done only once another device holds it: lost with this one, the person's
    // sessions would go on working on every other gateway.
    const held = await heldAsAsked(c, node, `removal of ${removed.user}`);
    return c.json({ ...removed, ...held });
  });
  app.post("/v1/users/:name/sign-out", async (c) => {
    const signedOut = signOutPersonEverywhere(node, c.req.param("name"), actorOf(c));
    // Said done only once another device holds it: lost with this one, the sessions of a
    // lost phone would go on working on every other gateway.
    const held = await heldAsAsked(c, node, `sign-out of ${signedOut.user} everywhere`);
    return c.json({ ...signedOut, ...held });
  });
  app.post("/v1/rules", async (c) => {
    const body = await jsonObject(c);
    const text = (name: string) => optionalText(body, name);
    const fields = { client: text("client"), device: text("device"), user: text("user") };
    const more = {
      role: text("role"),
      between: text("between"),
      days: text("days"),
      timeZone: text("timeZone"),
    };
    const request: RuleRequest = {
      action: text("action") ?? "",
      app: text("app") ?? "",
      ...Object.fromEntries(
        Object.entries({ ...fields, ...more }).filter(([, value]) => value !== undefined),
      ),
    };
    const rule = addRule(node, request);
    // Said done only once another device holds it, as a stop or a share is: lost with this
    // one, the block would never reach any other gateway.
    return c.json({ ...rule, ...(await heldAsAsked(c, node, `rule ${rule.id}`)) });
  });
  app.get("/v1/rules", (c) =>
    c.json({
      rules: readRules(node.db).map((rule) => ({ ...rule, description: describeRule(rule) })),
    }),
  );
  app.delete("/v1/rules/:id", async (c) => {
    const removed = removeRule(node, c.req.param("id"));
    // Said removed only once another device holds it: lost with this one, every other
    // gateway would go on blocking.
    const held = await heldAsAsked(c, node, `removal of rule ${removed.id}`);
    return c.json({ ...removed, ...held });
  });
  app.post("/v1/login-links", async (c) => {
    const body = (await jsonObject(c)) as { ttlMs?: number; next?: string };
    return c.json(
      createLoginLink(
        node,
        Number(body.ttlMs ?? DEFAULT_LINK_TTL_MS),
        typeof body.next === "string" ? body.next : undefined,
      ),
    );
  });
  app.get("/v1/apps/:app/limits", (c) => c.json(appLimits(node.db, c.req.param("app"))));
  app.put("/v1/apps/:app/limits", async (c) => {
    const limited = setLimits(node, c.req.param("app"), limitsRequest(await jsonObject(c)));
    // Said set only once another device holds it: lost with this one, no other gateway
    // would limit the app.
    const held = await heldAsAsked(c, node, `limits of ${limited.app}`);
    return c.json({ ...limited, ...held });
  });
  app.post("/v1/ndn/files", async (c) => {
    const body = (await jsonObject(c)) as { id?: string; size?: number; name?: string };
    const parsed = requireObjectId(String(body.id)); // `?wait=false`, as every write says it: `--no-wait`, and a public put, which waits for
    // the gateways' copies instead (/v1/ndn/public). The body's `wait: false` of earlier
    // CLIs is not read: their public put waits here too, and answers all the same.
    const asked = asksToWait(c);
    // Its size as held here, not as asked: what every device may fetch for it.
    const size = node.store.wholeSize(parsed.id);
    if (size === undefined)
      throw new BuckyError(
        "E_NOT_FOUND",
        `${parsed.id} is not stored on this device`,
        "Store it with `bucky put <file>`.",
      );
    const recorded = recordStoredFile(node, node.deviceName, {
      id: parsed.id,
      sizeBytes: size,
      name: typeof body.name === "string" ? body.name : "",
    });
    // Said stored once another device holds the bytes: the file outlives this device then
    // (a laptop closed as the command ends). Past the budget, no other device copies it.
    const others = otherMemberNames(node.membership(), node.deviceName);
    const copies = !recorded.withinBudget
      ? { heldBy: [], notHeldBy: [...others].sort() }
      : !asked
        ? { heldBy: [], notHeldBy: [] }
        : await untilHeldByPeers(node, parsed.id, size, others);
    if (copies.heldBy.length === 0 && copies.notHeldBy.length > 0)
      node.log.warn("stored file held by this device alone for now", { id: parsed.id });
    return c.json({
      ...recorded,
      copiedBy: copies.heldBy,
      notCopiedBy: copies.notHeldBy,
      ...(asked ? {} : { waited: false as const }),
    });
  });
  app.delete("/v1/ndn/files/:id", async (c) => {
    const id = c.req.param("id");
    const parsed = requireObjectId(id);
    const wait = asksToWait(c);
    // Asked before: once released, this device's own pin goes as it hears of it.
    const storedHere = isPinned(node.db, parsed.id);
    const released = releaseStoredFile(node, node.deviceName, parsed.id);
    // Said released only once another device holds the release: lost with this device,
    // the others would keep their copies.
    const held = released.wasStored
      ? await heldAnswer(node, `release of ${parsed.id}`, { wait })
      : { heldElsewhere: null };
    return c.json({ ...released, storedHere, ...held });
  });
  app.post("/v1/ndn/public", async (c) => {
    const body = (await jsonObject(c)) as { id?: string; size?: number };
    const parsed = requireObjectId(String(body.id));
    const size = body.size ?? 0;
    if (!Number.isSafeInteger(size) || size < 0)
      throw new BuckyError("E_INVALID_INPUT", `"size" must be a whole number of bytes`);
    const marked = markPublic(node, parsed.id, size);
    // Said done once another gateway holds the bytes: the file is served then though this
    // device goes away (a laptop closed as the command ends).
    const wait = asksToWait(c);
    const copies = await untilCopiedByGateway(node, parsed.id, size, { wait });
    if (copies.copiedBy.length === 0 && copies.notCopiedBy.length > 0)
      node.log.warn("public object held by this device alone for now", { id: parsed.id });
    // Public, but served by no one until a device of the zone is a gateway: said.
    const noGateway = ![
      node.deviceName,
      ...otherMemberNames(node.membership(), node.deviceName),
    ].some((device) => readGateway(node.db, device) !== undefined);
    return c.json({
      ...marked,
      ...copies,
      noGateway,
      ...(wait ? {} : { waited: false as const }),
    });
  });
  app.delete("/v1/ndn/public/:id", async (c) => {
    const id = c.req.param("id");
    const parsed = requireObjectId(id);
    const unmarked = unmarkPublic(node, parsed.id);
    // Said done (no gateway serves it) only once another device holds it: lost with this
    // one, the gateways would go on serving it to anyone.
    if (!unmarked.wasPublic) return c.json(unmarked);
    const { waited } = await heldAsAsked(c, node, `making ${parsed.id} private`);
    return c.json({ ...unmarked, ...(waited === false ? { waited } : {}) });
  });

  app.notFound((c) =>
    c.json(
      {
        error: new BuckyError("E_NOT_FOUND", `no API route ${c.req.method} ${c.req.path}`).toJSON(),
      },
      404,
    ),
  );
  return app;
}

/** An absolute path the CLI sent, or a usage error naming the field. */
function absolutePath(value: unknown, field: string): string {
  if (typeof value !== "string" || !isAbsolute(value))
    throw new BuckyError("E_USAGE", `"${field}" must be an absolute path`);
  return value;
}

function isStringMap(value: unknown): value is Record<string, string> {
  return (
    typeof value === "object" &&
    value !== null &&
    !Array.isArray(value) &&
    Object.values(value).every((v) => typeof v === "string")
  );
}

function keyIn(path: string): string {
  try {
    return decodeURIComponent(path.slice(STATE_PREFIX.length));
  } catch {
    // A broken percent-encoding is the caller's mistake, not the daemon's fault.
    throw new BuckyError("E_USAGE", "the state key in the path is not valid percent-encoding");
  }
}

/** An audit entry as the MCP server sends it, checked field by field. */
function auditEntry(body: unknown): Omit<AuditEntry, "at" | "device"> {
  const entry = body as Partial<Record<keyof AuditEntry, unknown>> | null;
  if (
    typeof entry?.agent !== "string" ||
    typeof entry.ok !== "boolean" ||
    typeof entry.outcome !== "string"
  )
    throw new BuckyError(
      "E_USAGE",
      "an audit entry has agent, tool, arguments, dryRun, ok and outcome",
    );
  return { ...auditCall(entry), agent: entry.agent, ok: entry.ok, outcome: entry.outcome };
}

/** The call an audit entry is about: tool, arguments and whether it was a dry run. */
function auditCall(body: unknown): AgentCall {
  const call = body as Partial<Record<keyof AgentCall, unknown>> | null;
  if (
    typeof call?.tool !== "string" ||
    typeof call.arguments !== "object" ||
    call.arguments === null ||
    Array.isArray(call.arguments) ||
    typeof call.dryRun !== "boolean"
  )
    throw new BuckyError(
      "E_USAGE",
      "an audit entry has agent, tool, arguments, dryRun, ok and outcome",
    );
  return {
    tool: call.tool,
    arguments: call.arguments as Record<string, unknown>,
    dryRun: call.dryRun,
  };
}
