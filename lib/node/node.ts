/**
 * The running node: one place that builds it (openNode) from a home. It serves the peer
 * API over TLS and the local API on a Unix socket, publishes where it listens, and keeps
 * in sync with its peers until stopped.
 */

import { chmodSync, existsSync, rmSync } from "node:fs";
import { networkInterfaces } from "node:os";
import type { Server, WebSocketHandler } from "bun";
import type { Hono } from "hono";
import { ZONE_TARGET_PREFIX } from "../../protocol/backup/zone-target.ts";
import { signingKeyFromSeed } from "../../protocol/ed25519.ts";
import type { DeviceId, ZoneId } from "../../protocol/ids.ts";
import { REQUEST_AUTH_VERSION } from "../../protocol/request-auth.ts";
import { certificatePem, deviceCertificate, privateKeyPem } from "../../protocol/tls-cert.ts";
import { AuditPublisher, DEFAULT_AUDIT_INTERVAL_MS } from "../agent/audit-publisher.ts";
import { keepGrantRecordsUnderIssuer } from "../agent/grants.ts";
import { AgentEndpoint } from "../agent/http.ts";
import { Convergence } from "../apps/convergence.ts";
import type { SandboxSupport } from "../apps/sandbox.ts";
import { LIVE_WINDOW_BEATS } from "../apps/status.ts";
import { writeFileAtomic } from "../atomic-file.ts";
import { EpochGiver } from "../backup/epoch-giver.ts";
import { HotShipper } from "../backup/hot.ts";
import {
  BackupScheduler,
  DEFAULT_BACKUP_EVERY_MS,
  DEFAULT_VERIFY_EVERY_MS,
} from "../backup/scheduler.ts";
import { watchBackupStatus } from "../backup/status-watch.ts";
import { TargetHost } from "../backup/target-host.ts";
import { reconcileLocalTargets } from "../backup/target-records.ts";
import { resolveTargets, targetsForDaemon } from "../backup/zone-targets.ts";
import { keepCatalogCopies } from "../catalog/catalog-copies.ts";
import { keepCatalogVersionsForward } from "../catalog/catalog-versions.ts";
import { keepOriginsPinned } from "../catalog/origin-pins.ts";
import { CertificateKeeper } from "../certs/keeper.ts";
import { ZoneCaIssuer } from "../certs/zone-ca-issuer.ts";
import { type CompactionTimes, Compactor, DEFAULT_COMPACTION } from "../checkpoint/compactor.ts";
import { BuckyError, isPassing } from "../errors.ts";
import { FactsPublisher } from "../facts/publisher.ts";
import { AppPipeClient } from "../gateway/app-pipe-client.ts";
import { appPipeOnDemand } from "../gateway/app-pipe-on-demand.ts";
import { IngressViewers } from "../gateway/app-user.ts";
import { isRelayOnly } from "../gateway/config.ts";
import type { ForwardLimits } from "../gateway/forward-budget.ts";
import { GatewayHost } from "../gateway/host.ts";
import { MAX_BODY_BYTES, type PanelSession } from "../gateway/server.ts";
import type { SilenceTiming } from "../gateway/silence-watch.ts";
import { homePaths } from "../home.ts";
import { readKeyFile } from "../identity/key-file.ts";
import type { Log } from "../log.ts";
import { DEFAULT_GRACE_MS } from "../ndn/collect.ts";
import { DEFAULT_COLLECT_EVERY_MS, NamedDataCollector } from "../ndn/collector.ts";
import { peerSource, storeSource } from "../ndn/fetch.ts";
import { DEFAULT_SCRUB_BYTES_PER_ROUND, DEFAULT_SCRUB_EVERY_MS, StoreScrub } from "../ndn/scrub.ts";
import { keepStoredFileCopies } from "../ndn/stored-file-copies.ts";
import type { PanelEnv } from "../panel/panel.tsx";
import { RelayHub } from "../relay/hub.ts";
import { touchesRelays } from "../relay/relays.ts";
import { Tunnels } from "../relay/tunnel.ts";
import { Replication } from "../replica/replication.ts";
import { isStateAltered } from "../state/altered.ts";
import type { StateDb } from "../store/db.ts";
import { standingOf } from "../sync/membership.ts";
import { SessionCheck } from "../users/sessions.ts";
import { forgetExpiredSignOuts } from "../users/signouts.ts";
import { requireZone } from "../zone/checked-zone.ts";
import { tidyInviteRecords } from "../zone/invites.ts";
import { type OpenZone, openZone } from "../zone/open.ts";
import { mendOwnKeptAtStart } from "../zone/repair.ts";
import { refuseIfRevoked } from "../zone/revoked-here.ts";
import { type BinaryIdentity, binaryIdentity } from "./binary-identity.ts";
import { takeDaemonLock } from "./daemon-lock.ts";
import { sayLastWord, sayLastWordAtRest, stoppedFacts } from "./last-word.ts";
import { createLocalApp } from "./local-api.ts";
import { LocalApi } from "./local-client.ts";
import { serveLocal } from "./local-server.ts";
import { extraRoots } from "./named-data-roots.ts";
import { NodeContext } from "./node-context.ts";
import { createPeerApp } from "./peer-api.ts";
import { type PeerSocketData, peerSockets } from "./peer-sockets.ts";
import { type DeviceInfo, readDeviceDocument, readDeviceInfo } from "./peers.ts";
import { releaseStartUpCode } from "./start-up-code.ts";
import {
  DEFAULT_STATE_CHECK_EVERY_MS,
  DEFAULT_STATE_VERIFY_EVERY_MS,
  StateCheck,
  type StateCheckTimes,
} from "./state-check.ts";
import { SyncLoop } from "./sync-loop.ts";

export const DEFAULT_PORT = 4411;
export const DEFAULT_SYNC_INTERVAL_MS = 3_000;
/**
 * How long the peer servers keep a connection on which nothing moves (Bun.serve's own
 * limit is 10 s): a relayed download stalled by the relay's or the caller's machine
 * pausing that long (a laptop's brief sleep, a loop blocked by load) was cut at 10 s,
 * the transfer reset mid-stream. A relayed stream to a relay that is gone ends sooner,
 * with its tunnel (lib/relay/tunnel.ts); this bounds one to a caller that went silent.
 * Bun moves the limit as it writes, so an answer that takes longer than this to write,
 * its bytes moving, arrives whole (lib/node/idle-limit.test.ts).
 */
export const PEER_IDLE_TIMEOUT_S = 60;

export interface NodeOptions {
  readonly home: string;
  readonly log: Log;
  readonly now: () => number;
  /** Where the peer API listens; port 0 picks a free port. */
  readonly listen: { readonly host: string; readonly port: number };
  readonly syncIntervalMs: number;
  readonly version: string;
  readonly gateway?: {
    readonly backendTimeoutMs?: number;
    readonly forwardLimits?: ForwardLimits;
    readonly silence?: SilenceTiming;
  };
  /**
   * When this device, as a relay, asks a quiet tunnel for a pong, and how long it waits
   * (lib/relay/hub.ts); how long its probe of a device through a relay may take
   * (lib/relay/stream-probe.ts).
   */
  readonly relay?: {
    readonly askAfterMs?: number;
    readonly pongWaitMs?: number;
    readonly probeTimeoutMs?: number;
  };
  readonly backup?: { readonly everyMs?: number; readonly verifyEveryMs?: number };
  /** How often this device publishes what agents did through it (DEFAULT_AUDIT_INTERVAL_MS). */
  readonly agentLogIntervalMs?: number;
  /** How often a gateway's traffic is counted anew for its facts (a minute). */
  readonly trafficFactsEveryMs?: number;
  /** How often this device looks again at what its facts say (FACTS_EVERY_MS). */
  readonly factsEveryMs?: number;
  /** How often the zone state is checked against its seal, and verified in full. */
  readonly stateCheck?: Partial<StateCheckTimes>;
  /** When the zone's history is checkpointed and compacted (DEFAULT_COMPACTION). */
  readonly compaction?: Partial<CompactionTimes>;
  /** When named data nothing refers to is collected. */
  readonly namedData?: { readonly graceMs: number; readonly everyMs: number };
  /** How often the store's scrub reads its next share (lib/ndn/scrub.ts). */
  readonly scrubEveryMs?: number;
  /**
   * Test hook: this device's relay hellos say it takes no stream but TLS ones, as a bucky
   * before relay protocol 2 did, so a lab can check such a device is still reached.
   */
  readonly relayHelloV1?: boolean;
  /**
   * Test hook: the level of write rules this device enforces on others' changesets and
   * says in its info, below this bucky's, as an older bucky would (WRITE_RULES_LEVEL).
   */
  readonly writeRulesLevel?: number;
  /** How often a standby reads its whole copy of an app's data back (lib/replica/follower.ts). */
  readonly replicaVerifyEveryMs?: number;
  /**
   * How long a write waits for another device to hold it before it is answered "not yet"
   * (HELD_ELSEWHERE_WITHIN_MS; longer in tests on a loaded machine: BUCKY_HELD_WAIT_MS).
   */
  readonly heldWaitMs?: number;
  readonly apps: {
    /** What this device can do to isolate apps (lib/apps/sandbox.ts). */
    readonly sandbox: SandboxSupport;
    /** The executable that runs `bun` apps: bucky itself. */
    readonly runtime: string;
    /** PATH for apps. */
    readonly path: string;
    readonly heartbeatMs: number;
    readonly intervalMs: number;
    /** The container engine for image apps: Podman's path or name, or off. */
    readonly images: { readonly podman: string; readonly off: boolean };
    /** How long an app that failed waits before its first restart (AppRunner's default: 1 s). */
    readonly firstRestartMs?: number;
  };
}

export interface RunningNode {
  readonly zone: { readonly id: string; readonly name: string };
  readonly device: { readonly id: string; readonly name: string };
  /** Where peers reach this node, best first. */
  readonly addresses: readonly string[];
  readonly socket: string;
  /** Whether apps run inside bubblewrap here. */
  readonly sandboxed: boolean;
  /** Settles when the node stops; rejects when it hit a bug and must exit. */
  readonly done: Promise<void>;
  stop(): Promise<void>;
}

/** What `<home>/daemon.json` holds while the daemon runs. */
export interface DaemonInfo {
  readonly pid: number;
  readonly startedAt: string;
  readonly addresses: readonly string[];
  readonly socket: string;
  /** The file it runs (lib/node/binary-identity.ts); absent from an older bucky's. */
  readonly binary?: BinaryIdentity;
  /** Where it listens (its port as bound): a restart listens there again. */
  readonly listen?: { readonly host: string; readonly port: number };
}

export async function openNode(options: NodeOptions): Promise<RunningNode> {
  const { log } = options;
  // A home with no zone is said as such (and gets no lock file); then, before anything of
  // the home is touched: one daemon a home. Its log file from here on, warnings included.
  const home = homePaths(options.home);
  requireZone(home);
  log.attachFile(home.logsDir);
  const lock = takeDaemonLock(options.home);
  let zone: OpenZone;
  try {
    // This device's own changesets its checkpoint keeps, damaged, come back from a peer.
    await mendOwnKeptAtStart(options.home, log, options.now);
    // Every row of the state database is checked against its seal before anything is served.
    zone = openZone(options.home, log, { everyRow: true });
  } catch (error) {
    // Altered while the daemon was off: the zone hears why it does not start (not for a key
    // or document of the home's that does not check out: a repair mends no such thing).
    if (isStateAltered(error))
      await sayLastWordAtRest(home, stoppedFacts(error, options.now()), log, options.now);
    lock.release();
    throw error;
  }
  const { paths } = zone;
  try {
    // A device the owner revoked takes no part in the zone.
    refuseIfRevoked(paths.home, zone.db, zone.zone.id, zone.device.id);
  } catch (error) {
    zone.close();
    lock.release();
    throw error;
  }
  // What to undo, newest first, if starting fails half way.
  const started: (() => void)[] = [() => lock.release(), () => zone.close()];
  const undo = () => {
    for (const step of started.reverse()) step();
  };

  let crash: (error: unknown) => void = () => {};
  let finish: () => void = () => {};
  const done = new Promise<void>((resolve, reject) => {
    finish = resolve;
    crash = reject;
  });
  // A full disk is no bug: the work waits for room (NodeContext.diskFull) and the daemon
  // carries on; anything else unexpected crashes it.
  let diskFull: ((error: unknown) => void) | undefined;
  const onBug = (error: unknown) => {
    if (diskFull && isPassing(error)) diskFull(error);
    else crash(error);
  };
  // A state found altered stops the daemon, which then exits with that integrity error;
  // so does this device learning the owner revoked it (E_REVOKED).
  let damage: BuckyError | undefined;
  let stopNode: (() => Promise<void>) | undefined;
  const stateDamaged = (error: BuckyError) => {
    if (damage) return;
    damage = error;
    log.fatal(
      error.code === "E_REVOKED"
        ? "this device was revoked by the zone's owner: the daemon stops"
        : "the zone state was altered behind bucky's back: the daemon stops",
      { error: error.message },
    );
    // While starting, the write that found it throws, and the start fails with it.
    if (stopNode) void stopNode();
  };

  try {
    // Held by no other daemon: a socket left is one a daemon that ended left behind.
    rmSync(paths.daemonSocket, { force: true });
    const seed = readKeyFile(paths.deviceKey, "device", log);
    const certificate = certificatePem(deviceCertificate(signingKeyFromSeed(seed)));
    // No await from here on: no request can arrive before the apps exist.
    let peerApp: ReturnType<typeof createPeerApp> | undefined;
    // This device relays for the members of its zone that cannot be called (it is of use
    // when it is a gateway, which they keep tunnels to).
    const relayHub = new RelayHub({
      self: zone.device.id,
      log,
      now: options.now,
      refuse: (zoneId, device) => refuseRelaying(node, zoneId, device),
      ...(options.relay?.askAfterMs ? { askAfterMs: options.relay.askAfterMs } : {}),
      ...(options.relay?.pongWaitMs ? { pongWaitMs: options.relay.pongWaitMs } : {}),
    });
    const peerServer = listenOnStablePort(
      (port) =>
        listen(
          { host: options.listen.host, port },
          certificate,
          privateKeyPem(seed),
          (request, server) =>
            peerApp ? peerApp.fetch(request, server) : new Response("starting", { status: 503 }),
          peerSockets(() => relayHub),
        ),
      options.listen.port,
      publishedPort(zone.db, zone.device.name),
    );
    started.push(() => peerServer.stop(true));
    const ownPeer = listenForOwnStreams(
      paths.peerSocket,
      (request, server) =>
        peerApp ? peerApp.fetch(request, server) : new Response("starting", { status: 503 }),
      peerSockets(() => relayHub),
      log,
    );
    if (ownPeer)
      started.push(() => {
        ownPeer.stop(true);
        rmSync(paths.peerSocket, { force: true });
      });
    started.push(() => relayHub.stop());
    const addresses = advertisedAddresses(options.listen.host, peerServer.port as number);
    const liveWindowMs = options.apps.heartbeatMs * LIVE_WINDOW_BEATS;
    const node = new NodeContext(zone, log, options.now, certificate, addresses, {
      relayHub,
      liveWindowMs,
      ...(options.writeRulesLevel !== undefined
        ? { writeRulesLevel: options.writeRulesLevel }
        : {}),
      ...(options.relay?.probeTimeoutMs
        ? { streamProbeTimeoutMs: options.relay.probeTimeoutMs }
        : {}),
      ...(options.heldWaitMs !== undefined ? { heldWaitMs: options.heldWaitMs } : {}),
    });
    diskFull = (error) => node.diskFull(error);
    node.onDamage(stateDamaged);
    started.push(() => node.client.stop());
    // This device's part in keeping app data on more than one device; when its copies or
    // snapshots move, its facts say so and the apps are looked at again.
    const replication = new Replication(node, {
      ...(options.replicaVerifyEveryMs ? { verifyEveryMs: options.replicaVerifyEveryMs } : {}),
      onChange: () => {
        facts.soon();
        apps.soon();
      },
    });
    // The zone's backup targets this device reaches, served to the other devices.
    const targetHost = new TargetHost(node);
    started.push(() => void targetHost.stop());
    // Agents reach every device on its own address too (the handler is made below).
    // Who the apps' traffic from the zone's gateways comes with, checked alike by the
    // ingress and by the app pipe, the direct way to the apps here (docs/app-pipe.md).
    const people = new IngressViewers(node, new SessionCheck(node));
    const appPipe = appPipeOnDemand(
      node.doors,
      async () => {
        const { listenAppPipe, nodePipeRules } = await import("../gateway/app-pipe.ts");
        return listenAppPipe({
          hostname: options.listen.host,
          port: 0,
          cert: certificate,
          key: privateKeyPem(seed),
          rules: nodePipeRules(node, people),
          log,
        });
      },
      log,
    );
    started.push(() => appPipe.stop());
    peerApp = createPeerApp(node, log, onBug, {
      relay: relayHub,
      mcp: (request) => agents.handle(request),
      replication,
      targets: targetHost,
      people,
      appPipePort: () => appPipe.port(),
      // Asked only once the node answers peers, the gateway host made by then.
      answerFellow: (step) => gateway.answerFellow(step),
    });
    const gateway = new GatewayHost(node, {
      liveWindowMs,
      log,
      ...options.gateway,
      // The control panel and agents act through the local API, as the CLI does.
      panel: async (request, session) => panel.fetch(request, session),
      mcp: (request) => agents.handle(request),
      certificates: (config) => certificates.served(config),
      challengeAnswer: (token, host) => CertificateKeeper.challengeAnswer(node, token, host),
      appPipes: new AppPipeClient({
        now: options.now,
        deviceKey: zone.deviceKey,
        deviceKeyPem: privateKeyPem(seed),
        contacts: node.contacts,
        get: (peer, path, timeoutMs) => node.client.get(peer, path, timeoutMs),
        relayedPipe: (peer, pipe) => node.client.relayedPipeSocket(peer, pipe),
        knownReachable: (address) => node.client.knownReachable(address),
        log,
      }),
    });
    // The gateway's certificates, kept current by themselves; and, on a device holding
    // the owner key, the zone CA answering the gateways that ask it.
    const certificates = new CertificateKeeper(node, {
      log,
      liveWindowMs,
      onCertificates: () => gateway.certificatesChanged(),
      onFacts: () => facts.soon(),
    });
    const zoneCa = new ZoneCaIssuer(node, log);
    let backups: { hot: HotShipper; schedule: BackupScheduler; giver: EpochGiver } | undefined;
    let startBackups = (): boolean => false;
    // The panel and the agents' endpoint call the local API in this process, for requests
    // from the internet: a bug one of those meets is logged, and stops nothing (anyone who
    // reaches a signed-in browser could stop the device by it); the CLI's still stops it.
    const fromWithin = new WeakSet<Request>();
    const callLocal = (request: Request) => {
      fromWithin.add(request);
      return localApp.fetch(request);
    };
    // Made before the local API, which asks it to publish what agents changed at once.
    const audit = new AuditPublisher(
      node,
      options.agentLogIntervalMs ?? DEFAULT_AUDIT_INTERVAL_MS,
      onBug,
    );
    const localApp = createLocalApp(
      node,
      log,
      (error, request) => {
        if (!fromWithin.has(request)) onBug(error);
      },
      {
        liveWindowMs,
        gateway,
        backups: () => backups?.schedule,
        startBackups: () => startBackups(),
        replicas: () => replication.facts(),
        deleteCopy: (app, name) => replication.deleteCopy(app, name),
        publishAuditSoon: () => audit.publishSoon(),
        zoneCa,
        runtime: options.apps.runtime,
        // Asked only once the node has started, after the sync loop below.
        pullFrom: (peer) => sync.pullNow(peer),
        usageMeasured: (usage) => facts.measured(usage),
      },
    );
    // The panel (its pages, in two languages) is loaded when first asked for: most daemons
    // are never asked, and an idle daemon holds less without it.
    let panelApp:
      | Promise<{ app: Hono<PanelEnv>; noticeKey: (cookie: string) => Uint8Array }>
      | undefined;
    const panel = {
      fetch: async (request: Request, session: PanelSession) => {
        panelApp ??= Promise.all([
          import("../panel/panel.tsx"),
          import("../panel/notice-cookie.ts"),
        ]).then(([{ createPanel }, { deriveNoticeKey }]) => ({
          app: createPanel(callLocal, log),
          noticeKey: deriveNoticeKey,
        }));
        const { app, noticeKey } = await panelApp;
        return app.fetch(request, {
          viewer: session.viewer,
          sessionId: session.sessionId,
          noticeKey: noticeKey(session.cookie),
        } satisfies PanelEnv["Bindings"]);
      },
    };
    const agents = new AgentEndpoint(new LocalApi(callLocal), paths, options.now, log);
    const localServer = serveLocal(paths.daemonSocket, (request) => localApp.fetch(request));
    started.push(() => {
      localServer.stop(true);
      rmSync(paths.daemonSocket, { force: true });
    });
    chmodSync(paths.daemonSocket, 0o600);

    const sync = new SyncLoop(node, options.syncIntervalMs, onBug, {
      onRefusals: () => facts.soon(),
    });
    const facts = new FactsPublisher(node, {
      replicas: () => replication.facts(),
      certificates: () => certificates.facts(),
      certificatesLeftOut: () => certificates.leftOut(),
      gatewayDown: () => gateway.down(),
      brokenChains: () =>
        node.brokenChains
          .notes(node.membership(), node.deviceName)
          .map(({ device, peer, seq }) => ({ device, peer, seq })),
      syncRefused: () => sync.refusals(),
      ...(options.trafficFactsEveryMs ? { trafficEveryMs: options.trafficFactsEveryMs } : {}),
      ...(options.factsEveryMs ? { everyMs: options.factsEveryMs } : {}),
      tell: () => void sync.tellFacts(),
    });
    node.clocksAhead.onChange(() => facts.soon());
    node.refusedWrites.onChange(() => facts.soon());
    sync.start();
    facts.start();
    started.push(() => facts.stop());
    started.push(watchBackupStatus(paths, () => facts.soon(true), log));
    // Apps installed by an older bucky come from a catalog of a name, and are pinned to
    // its publisher once a device holds the index that lists the package they run.
    const originPins = keepOriginsPinned(node);
    started.push(() => originPins.stop());
    // The zone's catalogs outlive the device that added them: each device holds a copy.
    const catalogCopies = keepCatalogCopies(node, () => originPins.soon());
    started.push(() => catalogCopies.stop());
    // The files the owner stored outlive the device that stored them: each device holds a
    // copy of each, within the zone's budget for them, and says so.
    const storedFileCopies = keepStoredFileCopies(node);
    started.push(() => storedFileCopies.stop());
    // What they keep is checked where it lies, a share at a time: bytes rot on a disk.
    const scrub = new StoreScrub(node.store, log, {
      everyMs: options.scrubEveryMs ?? DEFAULT_SCRUB_EVERY_MS,
      bytesPerRound: DEFAULT_SCRUB_BYTES_PER_ROUND,
    });
    scrub.start();
    started.push(() => scrub.stop());
    // ...and their versions only go forward, whichever device heard of which first.
    const catalogVersions = keepCatalogVersionsForward(node);
    started.push(() => catalogVersions.stop());
    const stateCheck = new StateCheck(
      node,
      {
        everyMs: options.stateCheck?.everyMs ?? DEFAULT_STATE_CHECK_EVERY_MS,
        verifyEveryMs: options.stateCheck?.verifyEveryMs ?? DEFAULT_STATE_VERIFY_EVERY_MS,
      },
      onBug,
    );
    stateCheck.start();
    const compactor = new Compactor(
      node,
      { ...DEFAULT_COMPACTION, ...options.compaction },
      onBug,
      () => facts.remeasure(),
    );
    compactor.start();
    const collector = new NamedDataCollector(
      node,
      options.namedData ?? { graceMs: DEFAULT_GRACE_MS, everyMs: DEFAULT_COLLECT_EVERY_MS },
      () => {
        facts.remeasure();
        // A copy of a stored file collected (past a budget lowered) is held no more.
        storedFileCopies.sayHoldings();
      },
    );
    for (const root of extraRoots(node.db, paths, node.store)) collector.register(root);
    const apps = new Convergence(node, replication, {
      ...options.apps,
      liveWindowMs,
      onBug,
      caughtUp: sync.firstRoundOver(),
      sources: () => [
        storeSource(node.store),
        ...node.peers().map((peer) => peerSource(node.client, peer)),
      ],
    });
    node.onChange((changesets) => {
      if (
        changesets.some((changeset) =>
          changeset.ops.some(
            (op) =>
              /^(users|nodes|devices|system)\//.test(op.key) &&
              !/^nodes\/[^/]+\/agent-log\//.test(op.key),
          ),
        )
      )
        apps.soon();
    });
    const tunnels = new Tunnels({
      key: zone.deviceKey,
      log,
      document: () => readDeviceDocument(node.db, node.deviceName),
      // Each attempt probes afresh: backoff already spaces them, and a relay that just
      // came back must not wait out a remembered failure.
      relayAddress: (relay) => node.client.directAddress(relay, true),
      localPeer: { host: loopbackFor(options.listen.host), port: peerServer.port as number },
      ...(options.relayHelloV1
        ? {}
        : {
            ...(ownPeer ? { ownPeer: { unix: paths.peerSocket } } : {}),
            appPipe: () => appPipe.current(),
          }),
    });
    // A relay heard again is worth a tunnel now, not at its backoff's next turn.
    node.onPeerAnswering((peer) => tunnels.relayAnswering(peer.id));
    const followRelays = () => {
      // A relay keeps tunnels to the others too: one behind a NAT (a home box made a
      // gateway for its LAN's name) is reached from outside its LAN only through them.
      tunnels.follow(node.relays().filter((r) => r.id !== node.deviceId));
    };
    node.onChange((changesets) => {
      if (changesets.some((changeset) => changeset.ops.some((op) => touchesRelays(op.key))))
        followRelays();
    });
    // A checkpoint fetched from a peer replaced the state at once: everything is looked at again.
    node.onRebase(() => {
      apps.soon();
      followRelays();
      facts.remeasure();
    });
    // A device proven to have signed two histories writes nothing (every peer refuses it,
    // and so do its own writes: the same answer, NodeContext.refusal): it still starts, so
    // that its status says so and what to do.
    if (!node.quarantined()) {
      // After the sync loop starts, so the peers hear of it at once.
      publishDeviceInfo(node, {
        addrs: addresses,
        cert: certificate,
        version: options.version,
        requestAuth: REQUEST_AUTH_VERSION,
        // Of level 0 a device says none, as a bucky before levels were said.
        ...(node.writeRulesLevel > 0 ? { writeRules: node.writeRulesLevel } : {}),
      });
      forgetOldHeartbeat(node);
      started.push(keepGrantRecordsUnderIssuer(node));
      forgetExpiredSignOuts(node);
      tidyInviteRecords(node);
    } else node.sayQuarantined();
    const info: DaemonInfo = {
      pid: process.pid,
      startedAt: new Date(options.now()).toISOString(),
      addresses,
      socket: paths.daemonSocket,
      ...withBinary(binaryIdentity()),
      listen: { host: options.listen.host, port: peerServer.port as number },
    };
    writeFileAtomic(paths.daemonInfo, `${JSON.stringify(info, null, 2)}\n`, 0o644);
    started.push(() => rmSync(paths.daemonInfo, { force: true }));
    apps.start();
    collector.start();
    gateway.start();
    certificates.start();
    zoneCa.start();
    started.push(() => {
      certificates.stop();
      zoneCa.stop();
    });
    audit.start();
    followRelays();
    started.push(() => tunnels.stop());
    // Backups run where the backup key is: the device that made the zone, one that
    // recovered it, or one given the key since (`bucky backup key`, which calls this).
    // This device's own file of target connections follows the zone's targets.
    const reconcileTargets = () =>
      reconcileLocalTargets(
        paths,
        node.db,
        node.deviceName,
        (ops) => node.write(ops),
        options.now,
        log,
      );
    reconcileTargets();
    node.onChange((changesets) => {
      if (changesets.some((c) => c.ops.some((op) => op.key.startsWith(ZONE_TARGET_PREFIX))))
        reconcileTargets();
    });
    startBackups = () => {
      if (backups || !existsSync(paths.backupKey)) return backups !== undefined;
      backups = {
        hot: new HotShipper(node, paths, log),
        schedule: new BackupScheduler({
          paths,
          log,
          now: options.now,
          runtime: options.apps.runtime,
          backupEveryMs: options.backup?.everyMs ?? DEFAULT_BACKUP_EVERY_MS,
          verifyEveryMs: options.backup?.verifyEveryMs ?? DEFAULT_VERIFY_EVERY_MS,
          targets: (strict) =>
            strict
              ? resolveTargets(paths, node.db, node.deviceName)
              : targetsForDaemon(paths, node.db, node.deviceName, log),
        }),
        // Key epochs it opens, given on to devices left out of them.
        giver: new EpochGiver(node, log),
      };
      backups.hot.start();
      backups.schedule.start();
      backups.giver.start();
      return true;
    };
    startBackups();
    started.push(() => gateway.stop());
    started.push(releaseStartUpCode());
    log.info("daemon started", {
      zone: zone.zone.id,
      device: zone.device.name,
      listen: addresses[0],
      pid: process.pid,
    });

    let stopping: Promise<void> | undefined;
    const stop = () => {
      stopping ??= (async () => {
        // Stopping for good over an altered state: the zone hears why while the rest stops.
        const lastWord =
          damage && isStateAltered(damage)
            ? sayLastWord(node, stoppedFacts(damage, options.now())).catch((error: unknown) =>
                log.warn("could not tell the zone why this device stops", {
                  error: error instanceof Error ? error.message : String(error),
                }),
              )
            : undefined;
        backups?.giver.stop();
        await backups?.schedule.stop();
        await backups?.hot.stop();
        // What it says of itself as it stops (a backup just run, hot changes that failed to
        // go), its apps and their data as they were: told now, not left for the round it
        // will not make; and nothing after it (a look while its apps stop would say it holds
        // none of their data).
        if (!damage) facts.publish();
        facts.stop();
        if (!damage) await within(sync.tellFacts(STOP_TELL_MS), STOP_TELL_MS);
        await apps.stop();
        await replication.stop();
        audit.stop();
        await sync.stop();
        await compactor.stop();
        await collector.stop();
        await stateCheck.stop();
        await lastWord;
        undo();
        log.info("daemon stopped", { device: zone.device.name });
        log.flush();
        if (damage) crash(damage);
        else finish();
      })();
      return stopping;
    };
    stopNode = stop;
    return {
      zone: { id: zone.zone.id, name: zone.zone.name },
      device: { id: zone.device.id, name: zone.device.name },
      addresses,
      socket: paths.daemonSocket,
      sandboxed: options.apps.sandbox.bwrap !== undefined,
      done,
      stop,
    };
  } catch (error) {
    undo();
    throw error;
  }
}

/** How long a stop waits for the peers to hear its last facts. */
const STOP_TELL_MS = 2_000;

/** Waits for `promise`, at most `ms`. */
async function within(promise: Promise<unknown>, ms: number): Promise<void> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  await Promise.race([promise, new Promise((resolve) => (timer = setTimeout(resolve, ms)))]);
  clearTimeout(timer);
}

/**
 * Port 0 means "any free port", but peers know this device by the address it published
 * last time: take that port again when it is free, so a restart does not strand them.
 */
function listenOnStablePort<T>(
  serve: (port: number) => T,
  port: number,
  published: number | undefined,
): T {
  if (port === 0 && published !== undefined) {
    try {
      return serve(published);
    } catch (error) {
      if (!(error instanceof BuckyError && error.code === "E_UNAVAILABLE")) throw error;
    }
  }
  return serve(port);
}

function publishedPort(db: StateDb, name: string): number | undefined {
  const address = readDeviceInfo(db, name)?.addrs[0];
  const port = address ? Number(new URL(address).port) : Number.NaN;
  return Number.isInteger(port) && port > 0 ? port : undefined;
}

function listen(
  where: { host: string; port: number },
  cert: string,
  key: string,
  fetch: (request: Request, server: Server<PeerSocketData>) => Response | Promise<Response>,
  websocket: WebSocketHandler<PeerSocketData>,
) {
  try {
    return Bun.serve({
      hostname: where.host,
      port: where.port,
      // Peers are told apart by their signed requests, not by certificates: the server asks
      // for none. Naming its own certificate as the only one it trusts keeps Bun from
      // loading the bundled root certificates into it, 2 MB an idle daemon held for nothing.
      tls: { cert, key, ca: cert },
      // App traffic through the ingress takes bodies as large as the gateway does; the
      // peer API reads no other body past a sync message (boundedBody).
      maxRequestBodySize: MAX_BODY_BYTES,
      idleTimeout: PEER_IDLE_TIMEOUT_S,
      fetch,
      websocket,
    });
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === "EADDRINUSE") {
      throw new BuckyError(
        "E_UNAVAILABLE",
        `port ${where.port} on ${where.host} is already in use`,
        "Stop what uses it, or choose another port with --port.",
      );
    }
    if (code === "EADDRNOTAVAIL" || code === "EACCES") {
      throw new BuckyError(
        "E_INVALID_INPUT",
        `cannot listen on ${where.host}:${where.port} (${code})`,
        "Check --listen and --port.",
      );
    }
    throw error;
  }
}

/**
 * The peer API over HTTP on a Unix socket only this user can open, where the streams a
 * relay opens for its own requests end: their TLS is the one of this device's connection
 * to the relay (protocol/relay.ts). Every request is authenticated as on the TLS server.
 * A home whose path is too long for a socket (108 bytes) goes without: the device then
 * takes only TLS streams, as an older bucky does.
 */
function listenForOwnStreams(
  path: string,
  fetch: (request: Request, server: Server<PeerSocketData>) => Response | Promise<Response>,
  websocket: WebSocketHandler<PeerSocketData>,
  log: Log,
): Server<PeerSocketData> | undefined {
  rmSync(path, { force: true });
  let server: Server<PeerSocketData> | undefined;
  try {
    server = Bun.serve({
      unix: path,
      maxRequestBodySize: MAX_BODY_BYTES,
      // Bun's types give idleTimeout to TCP servers alone, but a Unix one keeps the limit
      // too (checked: its default 10 s cut stalled relayed downloads here).
      ...({ idleTimeout: PEER_IDLE_TIMEOUT_S } as object),
      fetch,
      websocket,
    });
    chmodSync(path, 0o600);
    return server;
  } catch (error) {
    // Not left serving at modes it was not given.
    server?.stop(true);
    log.warn("no socket for a relay's own streams: relayed requests keep a TLS of their own", {
      error: (error as Error).message,
    });
    return undefined;
  }
}

/**
 * The addresses to tell peers: the listen address itself, or for a wildcard listen every
 * external IPv4 address of this host, then loopback (useful to devices on this host).
 */
export function advertisedAddresses(host: string, port: number): string[] {
  const url = (address: string) =>
    `https://${address.includes(":") ? `[${address}]` : address}:${port}`;
  if (host !== "0.0.0.0" && host !== "::") return [url(host)];
  const external = Object.values(networkInterfaces())
    .flat()
    .filter((nic) => nic && nic.family === "IPv4" && !nic.internal)
    .map((nic) => url((nic as { address: string }).address));
  return [...external, url("127.0.0.1")];
}

/**
 * Why this device's relay will not serve a device: a gateway serves the members of its
 * own zone in good standing; a relay-only device, any device of any zone as well.
 */
function refuseRelaying(node: NodeContext, zone: ZoneId, device: DeviceId): string | undefined {
  if (zone !== node.zoneId)
    return isRelayOnly(node.db, node.deviceName) ? undefined : "this relay serves another zone";
  const standing = standingOf(node.membership(), device);
  return standing === "member" ? undefined : `the device is ${standing} in this zone`;
}

/** Where this host reaches a server listening on `host`. */
function loopbackFor(host: string): string {
  if (host === "0.0.0.0") return "127.0.0.1";
  if (host === "::") return "::1";
  return host;
}

/**
 * Deletes the heartbeat key a bucky before presence records kept writing for this device
 * (`nodes/<me>/heartbeat`): nothing reads it any more. Only the device itself may.
 */
function forgetOldHeartbeat(node: NodeContext): void {
  const key = `nodes/${node.deviceName}/heartbeat`;
  const row = node.db.$client
    .query<{ value: string | null }, [string]>("SELECT value FROM state WHERE key = ?1")
    .get(key);
  if (row?.value) node.write([{ key, value: null }]);
}

/** Writes `devices/<me>/info` when what this device publishes about itself changed. */
function publishDeviceInfo(node: NodeContext, info: DeviceInfo): void {
  const current = readDeviceInfo(node.db, node.deviceName);
  if (current && JSON.stringify(current) === JSON.stringify(info)) return;
  node.write([{ key: `devices/${node.deviceName}/info`, value: JSON.stringify(info) }]);
}

function withBinary(binary: BinaryIdentity | undefined): { binary?: BinaryIdentity } {
  return binary ? { binary } : {};
}
