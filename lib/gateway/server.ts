/**
 * The zone gateway: the front door people reach apps through. For each request it checks
 * the Host and makes the path canonical, finds the app (by host or path), applies the
 * zone's rules, requires a session for zone-only apps (except their open paths) and one
 * they are shared with, enforces the app's limits, and forwards the request, streaming,
 * to the device that runs the app, counting what goes each way and telling the app who
 * is signed in (lib/gateway/app-user.ts), unless the request came from another site's page
 * (lib/gateway/request-origin.ts). People sign in on its own pages
 * (lib/gateway/account-routes.ts).
 */

import type { Server } from "bun";
import type { AppName } from "../../protocol/names.ts";
import { type ObjectId, parseObjectId } from "../../protocol/ndn.ts";
import {
  type LocalTime,
  localTime,
  type RequestFacts,
  type Rule,
  ruleMatches,
} from "../../protocol/rules.ts";
import { pinnedTls } from "../../protocol/tls-cert.ts";
import { answersAt } from "../apps/status.ts";
import type { ServedCertificate } from "../certs/keeper.ts";
import { BuckyError } from "../errors.ts";
import type { Messages } from "../i18n/messages.ts";
import type { Log } from "../log.ts";
import { fetchToStore, peerSource, storeSource } from "../ndn/fetch.ts";
import type { KeptCopies } from "../ndn/keep-copies.ts";
import { ndnResponse } from "../ndn/serve.ts";
import { type BoundedReadWords, bytesWithin } from "../node/bounded-read.ts";
import { isConnectionFailure, networkProblem } from "../node/network-errors.ts";
import type { NodeContext } from "../node/node-context.ts";
import { INGRESS_REFUSED_HEADER } from "../node/peer-ingress.ts";
import type { Peer } from "../node/peers.ts";
import { StateBoundMemo } from "../node/state-bound-memo.ts";
import { mayUseApp, reachOf, type Viewer } from "../users/access.ts";
import { SessionCheck } from "../users/sessions.ts";
import { AccountRoutes } from "./account-routes.ts";
import { Accounting, type Carried } from "./accounting.ts";
import type { AppPipeClient, PipeRequest } from "./app-pipe-client.ts";
import { AppListeners, appPortsKey, encodeAppPorts, readAppPortsRecord } from "./app-ports.ts";
import { AppUserAssertions, tellApp } from "./app-user.ts";
import { CheckedSessions } from "./checked-sessions.ts";
import { clientAddress } from "./client-address.ts";
import { type ClientBody, ClientBodyStalled, clientBody } from "./client-body.ts";
import { appByName, type GatewayConfig, gatewayBase, parseListen } from "./config.ts";
import {
  askFellow,
  type FellowAnswer,
  type FellowStep,
  fellowOf,
  loginGatewayOf,
} from "./fellow-sign-in.ts";
import {
  answerReadWhole,
  type BridgeData,
  bridgeData,
  carriesBody,
  closeNoLongerLetIn,
  forwardedHeaders,
  isWebSocketUpgrade,
  READ_WHOLE_BYTES,
  returnedResponse,
  websocketBridge,
} from "./forward.ts";
import { ForwardBudget, type ForwardLimits, forwardLimits, type Held } from "./forward-budget.ts";
import { HeldAccess, type Refusal } from "./held-access.ts";
import { counter, ends, TokenBucket, throttle } from "./limits.ts";
import { escapeHtml, type Line, literal, page, textHtml, wordsFor } from "./pages.ts";
import { sizesWithinBudget } from "./public-budget.ts";
import { keepPublicCopies, publicObjectLimit } from "./public-copies.ts";
import { fromAnotherSite } from "./request-origin.ts";
import { canonicalPath, isHostHeader } from "./request-target.ts";
import {
  ACCOUNT_PATH,
  LOGIN_PATH,
  PANEL_PATH,
  type Route,
  route,
  SIGNIN_PATH,
  SIGNOUT_PATH,
} from "./routing.ts";
import { describeRule } from "./rules.ts";
import { NoLongerLetIn, SessionConnections } from "./session-connections.ts";
import { acceptLogin, isSameOriginPath, SESSION_COOKIE, SESSION_TTL_S } from "./sessions.ts";
import { DeviceSilent, type SilenceTiming, watchForSilence } from "./silence-watch.ts";
import { type AppEntry, RouteTable } from "./table.ts";

/**
 * How long an app may take to start answering once it has the request, or to take the next
 * piece of a body streamed to it, before the gateway gives up (504); and how long a client
 * may take to send the next piece of a body the app waits for (408).
 */
export const BACKEND_TIMEOUT_MS = 30_000;
/** Request bodies larger than this are refused (413), whichever device runs the app. */
export const MAX_BODY_BYTES = 1024 * 1024 * 1024;
/** How often the log says the gateway is refusing requests past its budget, at most. */
const BUSY_SAID_EVERY_MS = 60_000;
/** A small body read whole that did not come within the app's time. */
const SLOW_BODY = new Error("the request's body came too slowly");
/** A connection with nothing moving for this long is closed (slow clients), at the least. */
export const IDLE_TIMEOUT_S = 30;
/**
 * How long a connection waits past the app's time before it is closed as idle: the runtime
 * checks its idle limit in steps of 4 s, and a request waiting for the app moves nothing.
 * At the same 30 s as the app's time, the connection was cut before the gateway's 504 (or
 * 408) left, and the browser said the connection was reset instead.
 */
const IDLE_PAST_APP_TIME_S = 10;

/** The most the runtime takes as an idle limit (Bun.serve refuses to start past it). */
const MOST_IDLE_TIMEOUT_S = 255;

/** The idle limit of the gateway's connections for an app's time of `backendTimeoutMs`. */
export function idleTimeoutS(backendTimeoutMs: number): number {
  const past = Math.ceil(backendTimeoutMs / 1000) + IDLE_PAST_APP_TIME_S;
  return Math.min(MOST_IDLE_TIMEOUT_S, Math.max(IDLE_TIMEOUT_S, past));
}

/** How long browsers are told to come back over HTTPS only (HSTS): a year. */
export const HSTS_MAX_AGE_S = 365 * 24 * 3600;
const CHALLENGE_PREFIX = "/.well-known/acme-challenge/";
/** What a request from another site's page is taken as: no one signed in. */
const FROM_ANOTHER_SITE = { problem: { code: "another-site" } } as const;

/** The session a panel request is of: whose, its id (lib/users/signouts.ts), and its cookie. */
export interface PanelSession {
  readonly viewer: Viewer;
  readonly sessionId: string;
  readonly cookie: string;
}

export interface GatewayOptions {
  readonly config: GatewayConfig;
  /**
   * The certificates to serve (PEM), one per name (SNI) or one for all: with none yet, a
   * gateway with automatic certificates serves plain HTTP until they arrive.
   */
  readonly certificates: readonly ServedCertificate[];
  /** The answer to an ACME HTTP-01 challenge, from any gateway of the zone. */
  readonly challengeAnswer?: (token: string, host: string) => string | undefined;
  /** How long an app may take to start answering (default BACKEND_TIMEOUT_MS). */
  readonly backendTimeoutMs?: number;
  /** When a device an answer is awaited from is asked whether it is still there (silence-watch.ts). */
  readonly silence?: SilenceTiming;
  /** How much it forwards at once (forward-budget.ts); the runtime's defaults' unless said. */
  readonly forwardLimits?: ForwardLimits;
  readonly liveWindowMs: number;
  readonly log: Log;
  /** The gateway's view of the time zone, for rules: an IANA name, or the system's. */
  readonly timeZone?: string;
  /** The control panel, for a request with a session (whose it is, and its id). */
  readonly panel: (request: Request, session: PanelSession) => Promise<Response>;
  /** AI agents' MCP endpoint (which checks their tokens itself). */
  readonly mcp: (request: Request) => Promise<Response>;
  /** The app pipes of the devices running apps (without it, every request takes the ingress). */
  readonly appPipes?: AppPipeClient;
}

export interface RunningGateway {
  readonly url: string;
  /** Writes what was counted but not yet flushed. */
  flushTraffic(): void;
  /**
   * Serves `certificates` from now on (one arrived, was renewed, or a name went). Bun
   * cannot change a listening server's certificates, so the HTTPS listener starts again,
   * its requests under way finishing on the old one; the plain listener goes on as it is,
   * so that a CA's check of another name under way there is not cut (its order would
   * fail, and a CA counts failed checks).
   */
  serveCertificates(certificates: readonly ServedCertificate[]): void;
  /** Stops listening; `closeActive: false` lets requests under way finish (a new certificate). */
  stop(closeActive?: boolean): void;
  /** Takes a step of signing in another gateway of the zone carried here (fellow-sign-in.ts). */
  answerFellow(step: FellowStep): Promise<FellowAnswer>;
}

interface Limiter {
  readonly rps: number | undefined;
  readonly bps: number | undefined;
  readonly requests?: TokenBucket;
  readonly bandwidth?: TokenBucket;
}

export function startGateway(node: NodeContext, options: GatewayOptions): RunningGateway {
  const { config, log } = options;
  const backendTimeoutMs = options.backendTimeoutMs ?? BACKEND_TIMEOUT_MS;
  const table = new RouteTable(node, options.liveWindowMs);
  const accounting = new Accounting(node.db, node.now);
  const limiters = new Map<string, Limiter>();
  const forwards = new ForwardBudget(options.forwardLimits ?? forwardLimits({}));
  /** When the log last said the gateway was busy: once a minute at most, not once a request. */
  let busySaidAtMs = Number.NEGATIVE_INFINITY;
  const people = new SessionCheck(node);
  const sessions = new CheckedSessions(node, people);
  // WebSockets and streamed answers, ended with the sessions that opened them.
  const sessionConnections = new SessionConnections(node, sessions, log);
  const heldAccess = new HeldAccess(table, log);
  // Which objects are within the zone's budget for public files, worked out once a change.
  const publicSizes = new StateBoundMemo<ReadonlyMap<ObjectId, number>>(node);
  const sizesOfPublic = () =>
    publicSizes.get("within", async () => ({
      answer: sizesWithinBudget(node.db),
      keepUntilMs: Number.POSITIVE_INFINITY,
    }));
  const assertions = new AppUserAssertions(node);
  const accounts = new AccountRoutes(node, config, log, people);
  table.start();
  accounting.start();
  const clock = localClock(node.now, options.timeZone);

  /** The first rule that blocks `app` for this client and viewer, now. */
  const blockingRule = (
    rules: readonly Rule[],
    app: string,
    client: string,
    viewer: Viewer | undefined,
  ): Rule | undefined => {
    // What the rules are matched against: made once, not once per rule.
    const asked: RequestFacts = {
      app,
      client: clientAddress(client),
      device: viewer?.deviceName,
      user: viewer?.kind === "person" ? viewer.user : undefined,
      role: viewer?.kind === "person" ? viewer.role : undefined,
      localTime: clock.now,
    };
    return rules.find((rule) => ruleMatches(rule, asked));
  };

  const limiterOf = (entry: AppEntry): Limiter => {
    const { rps, bandwidthBytesPerSecond: bps } = entry.limits;
    const current = limiters.get(entry.spec.app);
    if (current && current.rps === rps && current.bps === bps) return current;
    const limiter: Limiter = {
      rps,
      bps,
      ...(rps ? { requests: new TokenBucket(rps, rps, node.now) } : {}),
      // A quarter second of bytes may go at once; the rest waits its turn.
      ...(bps ? { bandwidth: new TokenBucket(bps, Math.max(16 * 1024, bps / 4), node.now) } : {}),
    };
    limiters.set(entry.spec.app, limiter);
    return limiter;
  };

  /**
   * Answers `request`, reached at the gateway's own port, or at the port of `ownApp`
   * alone (app-ports.ts), where every path is the app's.
   */
  const handle = async (
    request: Request,
    server: Server<BridgeData>,
    secure: boolean,
    ownApp?: string,
  ): Promise<Response | undefined> => {
    const startMs = performance.now();
    const client = server.requestIP(request)?.address ?? "unknown";
    const finish = (app: string, response: Response, bytesIn = 0) => {
      // Pages the gateway makes itself are counted and logged as they leave.
      const size = Number(response.headers.get("content-length") ?? 0);
      done(app, response.status, bytesIn, size);
      return response;
    };
    /**
     * Logs a request answered. `done` counts it and logs it; a connection held open (a
     * WebSocket, a streamed answer) is counted as it goes (Accounting.holdOpen), and logged.
     */
    const logged = (app: string, status: number, bytesIn: number, bytesOut: number) =>
      log.info("gateway request", {
        app: app || undefined,
        status,
        bytesIn,
        bytesOut,
        ms: Math.round(performance.now() - startMs),
        client,
      });
    const done = (app: string, status: number, bytesIn: number, bytesOut: number) => {
      if (app) accounting.count(app, client, bytesIn, bytesOut);
      logged(app, status, bytesIn, bytesOut);
    };

    const hostHeader = request.headers.get("host");
    // One host, and one the URL parser takes (not `[1.2.3.4]`, nor `1.2.3.999`).
    const url = isHostHeader(hostHeader) ? URL.parse(request.url) : null;
    if (!hostHeader || !url) {
      const words = await wordsFor(request);
      return finish(
        "",
        page(words, 400, words.gatewayPages.badRequest, [words.gatewayPages.noHost]),
      );
    }
    const path = canonicalPath(url.pathname);
    if (path === undefined) {
      const words = await wordsFor(request);
      return finish(
        "",
        page(words, 400, words.gatewayPages.badRequest, [words.gatewayPages.ambiguousPath]),
      );
    }
    const target: Route =
      ownApp === undefined
        ? route(hostHeader, path + url.search, config.host)
        : { kind: "app", app: ownApp, path: path + url.search, prefix: "" };
    /**
     * Whether the client is still there to be answered. The runtime answers pipelined
     * requests only while each is answered at once: when it reads one behind a request
     * still being answered, it closes the connection, answering neither. Whatever it will
     * not answer, the gateway must not act on (an app called with nobody told, who then
     * cannot know whether to try again), so before anything that takes time it lets the
     * runtime finish what it read, and looks.
     */
    const stillThere = async (): Promise<boolean> => {
      await new Promise((resolve) => setImmediate(resolve));
      if (!request.signal.aborted) return true;
      log.info("gateway request", {
        app: appOf(target),
        unanswered: "the connection closed first (a request pipelined behind this one)",
        ms: Math.round(performance.now() - startMs),
        client,
      });
      return false;
    };
    const unanswered = () => new Response(null, { status: 400 });
    // The panel and MCP read the request's own URL: they get the canonical one too (made
    // only for them: it takes the request's body).
    const canonical = () =>
      path === url.pathname ? request : new Request(new URL(path + url.search, url).href, request);
    /** The way from a path to an app to its own port, at the address the client asked. */
    const toAppPort = async (app: string, rest: string): Promise<Response> => {
      const port = appListeners?.portOf(app);
      if (!table.app(app) || port === undefined) {
        const words = await wordsFor(request);
        return table.app(app)
          ? finish(
              app,
              page(
                words,
                503,
                words.gatewayPages.noAppPortYet({ app }),
                [words.gatewayPages.appPortWhy({ app })],
                { "retry-after": "30" },
              ),
            )
          : finish(
              "",
              page(words, 404, words.gatewayPages.noSuchApp, [
                words.gatewayPages.noAppNamed({ app }),
              ]),
            );
      }
      // 308 keeps a request's method and body, for an API client that follows it.
      const location = `${secure ? "https" : "http"}://${url.hostname}:${port}${rest}`;
      return finish(app, new Response(null, { status: 308, headers: { location } }));
    };

    switch (target.kind) {
      case "login":
        return finish("", await login(node, request, url, config, hostHeader, secure));
      case "account":
        if (!(await stillThere())) return unanswered();
        return finish(
          "",
          await accounts.handle({ request, url, path: target.path, hostHeader, client, secure }),
        );
      case "panel": {
        const session = await sessions.check(request.headers.get("cookie"));
        if (!("viewer" in session)) {
          const words = await wordsFor(request);
          return finish(
            "",
            page(words, 401, words.gatewayPages.signInForPanel, [
              words.gatewayPages.panelOnlyForPeople({ why: session.problem }),
              signInLine(words, config, path),
            ]),
          );
        }
        if (!(await stillThere())) return unanswered();
        return finish(
          "",
          await options.panel(canonical(), {
            viewer: session.viewer,
            sessionId: session.sessionId,
            cookie: session.cookie,
          }),
        );
      }
      case "mcp":
        if (!(await stillThere())) return unanswered();
        return finish("", await options.mcp(canonical()));
      case "ndn":
        if (!(await stillThere())) return unanswered();
        return finish("", await servePublicObject(node, await sizesOfPublic(), target.id, request));
      case "home": {
        const session = await sessions.check(request.headers.get("cookie"));
        const viewer = "viewer" in session ? session.viewer : undefined;
        return finish("", homePage(await wordsFor(request), table, viewer));
      }
      case "unknown-host": {
        const words = await wordsFor(request);
        return finish(
          "",
          page(words, 404, words.gatewayPages.noSuchApp, [words.gatewayPages.notAnApp]),
        );
      }
      case "app-slash":
        if (appListeners) return toAppPort(target.app, "/");
        // Counted for the app only if there is one: a name is anything a request says, and
        // each made up was an app of its own in the traffic table and the zone's figures.
        return finish(
          table.app(target.app) ? target.app : "",
          new Response(null, { status: 308, headers: { location: `/apps/${target.app}/` } }),
        );
      case "app-by-name": {
        // The app's own origin, never the panel's (routing.ts). 308 keeps a request's
        // method and body, for an API client that follows it.
        const app = table.app(target.app) ? target.app : "";
        const address = appByName(config, target.app);
        if (app && !servesName(`${target.app}.${config.host}`)) {
          // Sent there before its certificate arrived (just installed), the browser would
          // only warn: said here instead, and where it will answer.
          const words = await wordsFor(request);
          return finish(
            app,
            page(
              words,
              503,
              words.gatewayPages.noCertificateYet({ app }),
              [words.gatewayPages.certificateOnItsWay({ address })],
              { "retry-after": "30" },
            ),
          );
        }
        return finish(
          app,
          new Response(null, {
            status: 308,
            headers: { location: address + target.path.slice(1) },
          }),
        );
      }
    }

    // By path at a gateway without a name: only the way to the app's own port.
    if (appListeners && target.prefix) return toAppPort(target.app, target.path);
    const entry = table.app(target.app);
    if (!entry) {
      const words = await wordsFor(request);
      return finish(
        "",
        page(words, 404, words.gatewayPages.noSuchApp, [
          words.gatewayPages.noAppNamed({ app: target.app }),
        ]),
      );
    }
    // A page of another site (any other app's: all are one site, so the browser sends the
    // person's cookie along) gets no person from it: it could read what the person keeps
    // here and act as them (lib/gateway/request-origin.ts).
    const foreign = fromAnotherSite(request, hostHeader, secure);
    // Not a turn's wait for a request without a session, nor with one remembered: check
    // answers those at once.
    const checking = foreign ? FROM_ANOTHER_SITE : sessions.check(request.headers.get("cookie"));
    const session = checking instanceof Promise ? await checking : checking;
    const viewer = "viewer" in session ? session.viewer : undefined;
    const rules = table.rules();
    const blocked = rules.length > 0 ? blockingRule(rules, target.app, client, viewer) : undefined;
    if (blocked) {
      const words = await wordsFor(request);
      return finish(
        target.app,
        page(words, 403, words.gatewayPages.blocked, [
          words.gatewayPages.blockedBy({
            app: target.app,
            rule: blocked.id,
            what: describeRule(blocked),
          }),
        ]),
      );
    }
    const open = entry.spec.manifest.openPaths.some((prefix) => target.path.startsWith(prefix));
    if (entry.spec.manifest.exposure === "zone" && !open && !("viewer" in session)) {
      const words = await wordsFor(request);
      const reads = request.method === "GET" || request.method === "HEAD";
      if (foreign && (!reads || isWebSocketUpgrade(request)))
        // A script's request to act, or a WebSocket: a way to sign in would not help it.
        return finish(
          target.app,
          page(words, 403, words.gatewayPages.fromAnotherSite, [
            words.gatewayPages.fromAnotherSiteWhy({ app: target.app }),
          ]),
        );
      return finish(
        target.app,
        page(words, 401, words.gatewayPages.signInForApp, [
          words.gatewayPages.appOnlyForPeople({ app: target.app, why: session.problem }),
          // Back to where it asked, by path: at the zone's name that leads to the app's, at
          // the gateway's own port to the app's.
          signInLine(
            words,
            config,
            `/apps/${target.app}${target.path}`,
            ownApp === undefined ? "" : `${secure ? "https" : "http"}://${url.hostname}:${port}`,
          ),
        ]),
      );
    }
    if (!open && !mayUseApp(viewer, reachOf(entry.spec))) {
      const words = await wordsFor(request);
      return finish(
        target.app,
        page(words, 403, words.gatewayPages.notShared, [
          words.gatewayPages.notSharedWith({ app: target.app }),
        ]),
      );
    }
    // The same two checks, asked again of what stays open (lib/gateway/held-access.ts).
    const refusedNow: Refusal = () => {
      const rules = table.rules();
      const rule = rules.length > 0 ? blockingRule(rules, target.app, client, viewer) : undefined;
      if (rule) return `blocked by rule ${rule.id}: ${describeRule(rule)}`;
      const now = table.app(target.app);
      if (now && !open && !mayUseApp(viewer, reachOf(now.spec)))
        return `${target.app} is no longer shared with you`;
      return undefined;
    };
    if (!(await stillThere())) return unanswered();
    const limiter = limiterOf(entry);
    const allowed = limiter.requests?.take() ?? { ok: true };
    if (!allowed.ok) {
      const retryAfter = String(Math.max(1, Math.ceil(allowed.waitMs / 1000)));
      const words = await wordsFor(request);
      return finish(
        target.app,
        page(
          words,
          429,
          words.gatewayPages.tooManyRequests,
          [
            words.gatewayPages.atMostRequests({
              app: target.app,
              rps: entry.limits.rps ?? 0,
              retryS: retryAfter,
            }),
          ],
          { "retry-after": retryAfter },
        ),
      );
    }
    const status = entry.status;
    if (!answersAt(status)) {
      const words = await wordsFor(request);
      const state = (words.status as Record<string, string>)[status.state] ?? status.state;
      // Stopped by a person: it does not come back by itself, and waiting does not help.
      const stopped = status.state === "stopped";
      return finish(
        target.app,
        page(
          words,
          503,
          words.gatewayPages.notRunning({ app: target.app }),
          [
            words.gatewayPages.stateIs({ state, error: literal(status.error ?? "") }),
            stopped ? words.gatewayPages.stoppedOnPurpose : words.gatewayPages.restartsItself,
          ],
          stopped ? {} : { "retry-after": "5" },
        ),
      );
    }

    const forwarded = forwardedHeaders(request.headers, {
      host: hostHeader,
      "x-forwarded-for": client,
      "x-forwarded-host": hostHeader,
      "x-forwarded-proto": secure ? "https" : "http",
      ...(target.prefix ? { "x-forwarded-prefix": target.prefix } : {}),
    });

    /**
     * The answer when the gateway forwards all it may at once, requests and WebSockets, in
     * all or from this client's address (forward-budget.ts).
     */
    const busy = async () => {
      // Each refusal has its line as a request; this says why, now and then.
      if (node.now() - busySaidAtMs >= BUSY_SAID_EVERY_MS) {
        busySaidAtMs = node.now();
        log.warn("gateway busy: refusing requests past its limit", {
          ...forwards.held,
          most: forwards.limits.total,
          mostFromOneAddress: forwards.limits.perClient,
        });
      }
      const words = await wordsFor(request);
      return finish(
        target.app,
        page(words, 503, words.gatewayPages.busy, [words.gatewayPages.busyWhy], {
          "retry-after": "1",
        }),
      );
    };

    if (isWebSocketUpgrade(request)) {
      const slot = forwards.take(client);
      if (!slot) return busy();
      // Held while it is open: given back when it closes (websocket.close below).
      let opened = false;
      try {
        const data = await websocketTarget(
          node,
          entry,
          target.path,
          forwarded,
          request.headers.get("sec-websocket-protocol"),
          (bytesIn, bytesOut) => logged(target.app, 101, bytesIn, bytesOut),
          "viewer" in session ? { viewer: session.viewer, cookie: session.cookie } : undefined,
          assertions,
          backendTimeoutMs,
          options.silence ?? {},
        );
        const countOpen = (carried: () => Carried) =>
          accounting.holdOpen(target.app, client, carried);
        const held = { refused: refusedNow, countOpen, releaseSlot: slot.release };
        if (data && server.upgrade(request, { data: { ...data, ...held } })) {
          opened = true;
          return undefined;
        }
        const words = await wordsFor(request);
        return finish(
          target.app,
          page(words, 502, words.gatewayPages.noWebSocket, [words.gatewayPages.noWebSocketWhy]),
        );
      } finally {
        if (!opened) slot.release();
      }
    }

    const length = Number(request.headers.get("content-length") ?? 0);
    if (length > MAX_BODY_BYTES) {
      const words = await wordsFor(request);
      return finish(
        target.app,
        page(words, 413, words.gatewayPages.tooLarge, [
          words.gatewayPages.atMostBytes({ bytes: MAX_BODY_BYTES }),
        ]),
      );
    }
    const slot = forwards.take(client);
    if (!slot) return busy();
    // Given back once the answer has passed: at the end of this, unless its body streams on.
    let streamsOn = false;
    // A small body is held in memory until the app has it; with too many held already, it
    // streams instead.
    let heldBody: Held | undefined;
    try {
      let bytesIn = 0;
      let bytesOut = 0;
      // The app's time runs while nothing moves: from the request sent whole (a small body is
      // read before), or from the last piece of a streamed body it took. A large upload takes
      // what the client's link needs, as it would to the app directly; an app that stops
      // taking the body, or never answers, is given up on backendTimeoutMs later all the same.
      const abort = new AbortController();
      let timer: ReturnType<typeof setTimeout> | undefined;
      // Once it answers, the rest of a body it had not read ends the clock no more.
      let answered = false;
      /** The streamed body, once there is one: whether the wait is on the client. */
      let streamed: ClientBody | undefined;
      const startAppClock = () => {
        clearTimeout(timer);
        timer = setTimeout(
          () =>
            abort.abort(
              streamed?.awaitingClient()
                ? new ClientBodyStalled(backendTimeoutMs)
                : new DOMException("the app did not answer in time", "TimeoutError"),
            ),
          backendTimeoutMs,
        );
      };
      const waitForApp = () => {
        if (!answered) startAppClock();
      };
      /** The answer when the app could not be reached, or did not answer whole in its time. */
      const appFailed = async (error: unknown): Promise<Response> => {
        if (abort.signal.reason instanceof ClientBodyStalled) {
          // The client's failure, not the app's: the app waited for the rest of the body.
          log.info("gateway request body stalled", {
            app: target.app,
            client,
            bytesIn,
            error: abort.signal.reason.message,
          });
          const words = await wordsFor(request);
          return finish(
            target.app,
            page(words, 408, words.gatewayPages.tooSlow, [
              words.gatewayPages.bodyStalled({ seconds: backendTimeoutMs / 1000 }),
            ]),
            bytesIn,
          );
        }
        log.warn("gateway could not reach an app", {
          app: target.app,
          error: String((error as Error).message ?? error),
        });
        const late = abort.signal.aborted;
        const words = await wordsFor(request);
        return finish(
          target.app,
          late
            ? page(words, 504, words.gatewayPages.didNotAnswer({ app: target.app }), [
                words.gatewayPages.answerLate({ seconds: backendTimeoutMs / 1000 }),
              ])
            : page(words, 502, words.gatewayPages.unreachable({ app: target.app }), [
                // Its device answered, but the app did not (or was not running there).
                error instanceof AppNotAnswering || entry.status.device === node.deviceName
                  ? words.gatewayPages.appSilent
                  : words.gatewayPages.deviceSilent,
              ]),
          bytesIn,
        );
      };
      let body: ReadableStream | Uint8Array | null = null;
      // Whether bytesIn is the whole request body's count: at once without a body or with one
      // read whole, else once the app has taken all of it (most have when they answer).
      let bodyCounted = true;
      if (request.body && request.headers.has("content-length") && length <= READ_WHOLE_BYTES)
        heldBody = forwards.holdBody(length);
      if (request.body && heldBody) {
        // A small body of declared length (a form, an API call) is read whole, as the runtime
        // reads it, and forwarded as bytes: piped through JavaScript it cost a POST of 1 KiB
        // a third of its time. It is counted as it came (a declared length is only a claim:
        // an app answering before it reads would have it counted unsent).
        // Within the app's time: a client sending its bytes one at a time would otherwise hold
        // the request for as long as it liked. (A streamed body has the app's time again at
        // each piece that goes on: one that stops moving is given up on as the app would be.)
        let late: ReturnType<typeof setTimeout> | undefined;
        try {
          body = await Promise.race([
            request.bytes(),
            new Promise<never>((_, reject) => {
              late = setTimeout(() => reject(SLOW_BODY), backendTimeoutMs);
            }),
          ]);
        } catch (error) {
          if (error === SLOW_BODY) {
            const words = await wordsFor(request);
            return finish(
              target.app,
              page(words, 408, words.gatewayPages.tooSlow, [
                words.gatewayPages.bodyLate({ seconds: backendTimeoutMs / 1000 }),
              ]),
            );
          }
          // The client went before its body was whole: there is no one to answer.
          return finish(target.app, unanswered());
        } finally {
          clearTimeout(late);
        }
        bytesIn = body.length;
      } else if (request.body) {
        // A large or chunked body is counted as it goes (and the runtime refuses one past
        // maxRequestBodySize, as the counter would).
        bodyCounted = false;
        streamed = clientBody(
          request.body,
          (n) => {
            bytesIn += n;
            if (bytesIn > MAX_BODY_BYTES) throw new BuckyError("E_USAGE", "request body too large");
            waitForApp();
          },
          () => {
            bodyCounted = true;
          },
        );
        body = streamed.stream;
      }
      waitForApp();
      let response: Response;
      try {
        response = await forward(
          node,
          entry,
          target.path,
          { method: request.method, headers: forwarded, body, signal: abort.signal },
          viewer,
          assertions,
          options.appPipes,
          options.silence ?? {},
        );
      } catch (error) {
        return appFailed(error);
      } finally {
        answered = true;
        clearTimeout(timer);
        heldBody?.release();
      }

      // On the gateway's own origin, beside the panel (see returnedResponse).
      const byPath = target.prefix !== "";
      const declared = response.headers.get("content-length");
      if (declared !== null && !limiter.bandwidth && bodyCounted) {
        // The common case, a response of known length under no bandwidth limit to a request
        // whose body (if any) the app has taken. A small one is read whole, within the app's
        // time, so that the client receives its length (answerReadWhole), and counted as read;
        // any other is passed on untouched, its body not even looked at (piping it through
        // JavaScript would cost most of the gateway's time), and counted at the length it
        // declares, or as nothing when it carries none whatever it declares (a HEAD's, a
        // 304's). However long it takes to write, it is not cut while its bytes move: Bun
        // moves the idle limit as it writes.
        if (answerReadWhole(request.method, response)) {
          startAppClock();
          let whole: Uint8Array;
          try {
            whole = await response.bytes();
          } catch (error) {
            return appFailed(error);
          } finally {
            clearTimeout(timer);
          }
          done(target.app, response.status, bytesIn, whole.length);
          return returnedResponse(response, whole, byPath);
        }
        done(
          target.app,
          response.status,
          bytesIn,
          carriesBody(request.method, response.status) ? Number(declared) : 0,
        );
        return returnedResponse(response, undefined, byPath);
      }
      let stream = response.body;
      if (!stream) {
        done(target.app, response.status, bytesIn, 0);
        return returnedResponse(response, undefined, byPath);
      }
      // It may last as long as the client keeps it (an event stream): held, it ends with its
      // session, as a WebSocket does, the app told by its connection's end.
      const cookie = "viewer" in session ? session.cookie : undefined;
      const cut = (why: string) => abort.abort(new NoLongerLetIn(why));
      const releaseSession =
        cookie === undefined ? undefined : sessionConnections.hold(cookie, cut);
      const releaseAccess = heldAccess.hold(refusedNow, cut);
      const release = () => {
        releaseSession?.();
        releaseAccess();
      };
      request.signal.addEventListener("abort", release, { once: true });
      // Told once the last byte has passed: by the counter itself, unless a throttle holds
      // bytes after it. Each stream a chunk passes through costs the gateway about 0.3 ms of
      // CPU a MiB (docs/performance.md, relayed bulk), and every large relayed answer comes
      // this way: the device's ingress sends it chunked, its length lost.
      // Once, however it ends: read whole, or cut (the app's side failed or was aborted, or
      // the client went), when the bytes that passed are counted all the same.
      let ended = false;
      const endCount = accounting.holdOpen(target.app, client, () => ({ bytesIn, bytesOut }));
      const counted = () => {
        if (ended) return;
        ended = true;
        slot.release();
        release();
        endCount();
        logged(target.app, response.status, bytesIn, bytesOut);
      };
      const bandwidth = limiter.bandwidth;
      stream = stream.pipeThrough(counter((n) => (bytesOut += n), bandwidth ? undefined : counted));
      if (bandwidth)
        stream = stream
          .pipeThrough(throttle(bandwidth))
          .pipeThrough(new TransformStream(ends(counted)));
      const answer = returnedResponse(response, stream, byPath);
      streamsOn = true;
      return answer;
    } finally {
      heldBody?.release();
      if (!streamsOn) slot.release();
    }
  };

  /** What the listeners serve now: replaced whole by serveCertificates. */
  let served = servedWith(config, options.certificates);
  /**
   * Whether a browser sent to `name` is answered as that name: over plain HTTP, or with a
   * certificate for all names (files, the zone CA's), or its own (ACME orders one a name).
   */
  const servesName = (name: string) =>
    !config.https ||
    (served.httpsUp && (served.certified.size === 0 || served.certified.has(name)));
  const { host, port } = parseListen(config.listen);
  const serve = (
    where: { host: string; port: number },
    secure: boolean,
    fetch: (request: Request, server: Server<BridgeData>) => Promise<Response | undefined>,
  ): Server<BridgeData> => {
    const { certificates } = served;
    return Bun.serve<BridgeData>({
      hostname: where.host,
      port: where.port,
      idleTimeout: idleTimeoutS(backendTimeoutMs),
      maxRequestBodySize: MAX_BODY_BYTES,
      ...(secure
        ? {
            // It asks browsers for no certificate: naming its own as the one it trusts keeps
            // Bun from loading its bundled root certificates into it (2 MB held for nothing).
            tls: certificates.map((c) => ({
              ...(c.serverName && certificates.length > 1 ? { serverName: c.serverName } : {}),
              cert: c.cert,
              key: c.key,
              ca: c.cert,
            })),
          }
        : {}),
      fetch: (request, srv) => {
        const answered = fetch(request, srv).catch((error: unknown) => {
          if (!(error instanceof BuckyError)) throw error;
          return wordsFor(request).then((words) =>
            page(words, error.httpStatus, words.gatewayPages.refused, [error.message]),
          );
        });
        return secure ? answered.then((response) => response && withHsts(response)) : answered;
      },
      websocket: {
        ...websocketBridge,
        open(client) {
          websocketBridge.open?.(client);
          const cookie = client.data.sessionCookie;
          if (cookie !== undefined)
            client.data.release = sessionConnections.hold(cookie, (why) =>
              closeNoLongerLetIn(client, why),
            );
          client.data.endCount = client.data.countOpen?.(() => client.data);
          const { refused } = client.data;
          if (refused)
            client.data.releaseAccess = heldAccess.hold(refused, (why) =>
              closeNoLongerLetIn(client, why),
            );
        },
        close(client, code, reason) {
          client.data.release?.();
          client.data.releaseAccess?.();
          client.data.endCount?.();
          client.data.releaseSlot?.();
          websocketBridge.close?.(client, code, reason);
        },
      },
      error: async (error) => {
        // An answer passed on as it came (an app's large one: see answerReadWhole) whose
        // connection broke before its first byte went on: the runtime gives its body's
        // failure here, not to the handler. Nothing went yet, so the client is told what
        // failed (502), as it is when a small one breaks, rather than that the gateway did.
        if (isConnectionFailure(error)) {
          log.warn("gateway answer broke before it began", { error: networkProblem(error) });
          const words = await wordsFor(undefined);
          return page(words, 502, words.gatewayPages.answerBroke, [
            words.gatewayPages.answerBrokeWhy,
          ]);
        }
        log.error("gateway fault", { error: String(error?.stack ?? error) });
        // Whose request it was is not known here: the words are English.
        const words = await wordsFor(undefined);
        return page(words, 500, words.gatewayPages.fault, [words.gatewayPages.notForwarded]);
      },
    });
  };
  /** ACME's challenges, on every listener: before anything else, to anyone. */
  const challenge = (request: Request): Response | undefined => {
    // Most requests are not challenges: they are let through without parsing their URL twice.
    if (!request.url.includes(CHALLENGE_PREFIX)) return undefined;
    const url = URL.parse(request.url);
    const path = url?.pathname ?? "";
    if (!url || !path.startsWith(CHALLENGE_PREFIX)) return undefined;
    // The name the CA is checking is the one it asks at (the Host).
    const answer = options.challengeAnswer?.(path.slice(CHALLENGE_PREFIX.length), url.hostname);
    log.info("gateway request", {
      acmeChallenge: answer !== undefined,
      status: answer ? 200 : 404,
    });
    return answer === undefined
      ? new Response("no such challenge\n", { status: 404 })
      : new Response(answer, { headers: { "content-type": "application/octet-stream" } });
  };
  /**
   * The main listener: HTTPS once there is a certificate; plain HTTP for a gateway without
   * one, or with automatic ones on their way and no plain listener of its own (none then).
   */
  const startMain = (): Server<BridgeData> | undefined => {
    const { httpsUp } = served;
    if (!httpsUp && config.https && config.httpListen) return undefined;
    try {
      return serve({ host, port }, httpsUp, (request, srv) =>
        Promise.resolve(challenge(request) ?? handle(request, srv, httpsUp)),
      );
    } catch (error) {
      throw listenError(config, config.listen, error);
    }
  };
  /** Starts the apps' own listeners, kept as apps come and go. */
  const listenForEachApp = (): AppListeners => {
    const listeners = new AppListeners({
      mainPort: port,
      reserved: new Set([
        port,
        ...(config.httpListen ? [parseListen(config.httpListen).port] : []),
      ]),
      published: readAppPortsRecord(node.db, node.deviceName),
      serve: (app, appPort) => {
        const secure = served.httpsUp;
        return serve({ host, port: appPort }, secure, (request, srv) =>
          handle(request, srv, secure, app),
        );
      },
      publish: (record) =>
        node.write([{ key: appPortsKey(node.deviceName), value: encodeAppPorts(record) }]),
      log,
      now: node.now,
    });
    const sync = () => listeners.sync(table.allApps().map((entry) => entry.spec.app));
    sync();
    table.onRefresh(sync);
    return listeners;
  };
  let main: Server<BridgeData> | undefined;
  let plain: Server<BridgeData> | undefined;
  let copies: KeptCopies | undefined;
  /** Each app's own port, on a gateway without a name (app-ports.ts). */
  let appListeners: AppListeners | undefined;
  const stopAll = (closeActive = true) => {
    main?.stop(closeActive);
    plain?.stop(closeActive);
    appListeners?.stop();
    copies?.stop();
    publicSizes.stop();
    table.stop();
    accounting.stop();
    sessions.stop();
    sessionConnections.stop();
  };
  try {
    main = startMain();
    if (config.httpListen)
      try {
        plain = serve(parseListen(config.httpListen), false, (request, srv) => {
          const answer = challenge(request);
          if (answer) return Promise.resolve(answer);
          // Once there is a certificate, plain HTTP only sends people to HTTPS.
          if (served.httpsUp) return toHttps(request, port, log);
          return handle(request, srv, false);
        });
      } catch (error) {
        throw listenError(config, config.httpListen, error);
      }
    if (config.host === null) appListeners = listenForEachApp();
  } catch (error) {
    stopAll();
    throw error;
  }
  // What the zone serves publicly is here before anyone asks, whichever device stored it.
  copies = keepPublicCopies(node);
  const address = host === "0.0.0.0" ? "127.0.0.1" : host;
  log.info("gateway started", {
    listen: config.listen,
    httpListen: config.httpListen,
    host: config.host ?? undefined,
    https: served.httpsUp,
    certificates: served.certificates.length,
  });
  return {
    get url() {
      const listening = main ?? plain;
      return `${served.httpsUp ? "https" : "http"}://${address}:${listening?.port}`;
    },
    flushTraffic: () => accounting.flush(),
    answerFellow: (step) => accounts.answerFellow(step),
    serveCertificates(certificates) {
      served = servedWith(config, certificates);
      // Requests and WebSockets under way finish on the old listener.
      main?.stop(false);
      main = undefined;
      main = startMain();
      appListeners?.restart();
      log.info("gateway certificates", {
        https: served.httpsUp,
        certificates: certificates.length,
      });
    },
    stop: stopAll,
  };
}

/** What a gateway serves with `certificates`: HTTPS once it has one, and for which names. */
function servedWith(config: GatewayConfig, certificates: readonly ServedCertificate[]) {
  if (config.https && (!config.tls || config.tls === "files") && certificates.length === 0)
    throw new BuckyError("E_INTERNAL", "an HTTPS gateway was started without its certificate");
  return {
    certificates,
    httpsUp: config.https && certificates.length > 0,
    certified: new Set(certificates.flatMap((c) => (c.serverName ? [c.serverName] : []))),
  };
}

/** A response that tells the browser to use HTTPS only from now on (HSTS). */
function withHsts(response: Response): Response {
  const value = `max-age=${HSTS_MAX_AGE_S}`;
  try {
    response.headers.set("strict-transport-security", value);
    return response;
  } catch {
    // Headers of a fetched response cannot change: a copy's can.
    const copy = new Response(response.body, response);
    copy.headers.set("strict-transport-security", value);
    return copy;
  }
}

/** Plain HTTP, once the gateway has a certificate: the same address over HTTPS. */
async function toHttps(request: Request, httpsPort: number, log: Log): Promise<Response> {
  const hostHeader = request.headers.get("host");
  const url = isHostHeader(hostHeader) ? URL.parse(request.url) : null;
  if (!url) {
    const words = await wordsFor(request);
    return page(words, 400, words.gatewayPages.badRequest, [words.gatewayPages.noHost]);
  }
  const status = request.method === "GET" || request.method === "HEAD" ? 301 : 308;
  const location = `https://${url.hostname}${httpsPort === 443 ? "" : `:${httpsPort}`}${url.pathname}${url.search}`;
  log.info("gateway request", { status, redirect: "https" });
  return new Response(null, { status, headers: { location, "cache-control": "no-store" } });
}

/**
 * Forwards to the app: directly when it runs here (telling it who is signed in), else
 * through its device's app pipe when it takes it, or its ingress (with an assertion that
 * device checks before it tells, either way).
 */
async function forward(
  node: NodeContext,
  entry: AppEntry,
  path: string,
  init: PipeRequest,
  viewer: Viewer | undefined,
  assertions: AppUserAssertions,
  appPipes: AppPipeClient | undefined,
  silence: SilenceTiming,
): Promise<Response> {
  const { device } = entry.status;
  if (device === node.deviceName) {
    const door = node.doors.get(entry.spec.app);
    if (!door) throw new BuckyError("E_UNAVAILABLE", `${entry.spec.app} is not running here`);
    tellApp(init.headers, viewer);
    return door.fetch(path, {
      method: init.method,
      headers: init.headers,
      body: init.body,
      signal: init.signal,
      redirect: "manual",
      duplex: "half",
    } as RequestInit);
  }
  const peer = device ? node.peer(device) : undefined;
  if (!peer) throw new BuckyError("E_UNAVAILABLE", `${device} cannot be reached`);
  for (const [name, value] of Object.entries(assertions.headers(entry.spec.app, peer.id, viewer)))
    init.headers.set(name, value);
  const send = async (sending: PipeRequest): Promise<Response> => {
    if (appPipes) {
      const outcome = await appPipes.forward(peer, entry.spec.app as AppName, path, sending);
      if ("response" in outcome) return appAnswer(outcome.response);
      sending = outcome.fallBack;
    }
    return appAnswer(
      await node.client.forward(peer, `/v1/ingress/${entry.spec.app}${path}`, sending),
    );
  };
  try {
    return await unlessSilent(node, peer, init, send, silence);
  } catch (error) {
    // A GET or HEAD without a body, of which nothing came back, the app may take twice: it
    // goes by the next route (the silent address is now known, so the pipe and the direct
    // route skip it). Anything else is answered 502 at once: it may have been acted on.
    const again = (init.method === "GET" || init.method === "HEAD") && init.body === null;
    if (!(error instanceof DeviceSilent) || !again || init.signal.aborted) throw error;
    // Watched as the first was: found silent through a relay, the next route may be the
    // same relay, and a connection to the device kept alive there is as silent (it held
    // the request for the app's whole time).
    return unlessSilent(node, peer, init, send, silence);
  }
}

/**
 * The device's own refusal of a request for an app it runs (the app not running there, or
 * not answering), marked by its ingress or app pipe, as an error: the gateway says it on
 * its page, as for an app on its own device. Passed on as the app's answer, it showed the
 * visitor the peer API's JSON. (An app that sends the mark itself only turns its answer
 * into that page.)
 */
async function appAnswer(response: Response): Promise<Response> {
  if (!response.headers.has(INGRESS_REFUSED_HEADER)) return response;
  // Read within a refusal's bound: an app can put the mark on an answer of any size.
  const said = (await bytesWithin(response, REFUSAL_MAX_BYTES, NOT_A_REFUSAL)
    .then((bytes) => JSON.parse(new TextDecoder().decode(bytes)))
    .catch(() => undefined)) as { error?: { message?: unknown } } | undefined;
  const message = said?.error?.message;
  throw new AppNotAnswering(
    typeof message === "string" ? message : `its device refused it (${response.status})`,
  );
}

/** More than a device's refusal ever says: an answer past it is no refusal's words. */
const REFUSAL_MAX_BYTES = 16 * 1024;
const NOT_A_REFUSAL: BoundedReadWords = {
  tooLarge: () => new Error("too large for a refusal"),
  brokeOff: (error) => error,
};

/** An app its device says does not answer (or does not run there). */
class AppNotAnswering extends BuckyError {
  constructor(message: string) {
    super("E_UNAVAILABLE", message);
  }
}

/**
 * `send(init)`, given up on with a DeviceSilent when, no answer come yet, the device no
 * longer answers where the request went (lib/gateway/silence-watch.ts): its own address
 * takes no connection, or, by a relay, no stream to it opens through that relay.
 */
async function unlessSilent(
  node: NodeContext,
  peer: Peer,
  init: PipeRequest,
  send: (init: PipeRequest) => Promise<Response>,
  timing: SilenceTiming,
): Promise<Response> {
  const address = node.client.addressInUse(peer);
  if (!address) return send(init);
  const silence = watchForSilence(
    address,
    (a, fresh) => node.client.answersAt(peer, a, fresh),
    timing,
  );
  try {
    return await send({ ...init, signal: AbortSignal.any([init.signal, silence.signal]) });
  } catch (error) {
    if (silence.signal.aborted && !init.signal.aborted) throw silence.signal.reason;
    throw error;
  } finally {
    silence.stop();
  }
}

async function websocketTarget(
  node: NodeContext,
  entry: AppEntry,
  path: string,
  headers: Headers,
  protocols: string | null,
  done: (bytesIn: number, bytesOut: number) => void,
  /** Who the session let in, and its cookie (the socket ends with it: SessionConnections). */
  session: { readonly viewer: Viewer; readonly cookie: string | undefined } | undefined,
  assertions: AppUserAssertions,
  connectTimeoutMs: number,
  silence: SilenceTiming,
): Promise<BridgeData | undefined> {
  const viewer = session?.viewer;
  const sessionCookie = session?.cookie;
  if (entry.status.device === node.deviceName) {
    const door = node.doors.get(entry.spec.app);
    if (!door) return undefined;
    tellApp(headers, viewer);
    return bridgeData(door.websocketUrl(path), {
      headers: Object.fromEntries(headers),
      protocols,
      done,
      connectTimeoutMs,
      ...(sessionCookie !== undefined ? { sessionCookie } : {}),
    });
  }
  const peer = entry.status.device ? node.peer(entry.status.device) : undefined;
  if (!peer) return undefined;
  const ingress = `/v1/ingress/${entry.spec.app}${path}`;
  const address = await node.client.reachableAddress(peer);
  if (!address) return undefined;
  return bridgeData(`${address.replace(/^https/, "wss")}${ingress}`, {
    headers: {
      ...Object.fromEntries(headers),
      ...assertions.headers(entry.spec.app, peer.id, viewer),
      ...node.client.websocketHeaders(peer, ingress),
    },
    tls: pinnedTls(peer.certPem),
    protocols,
    done,
    connectTimeoutMs,
    ...(sessionCookie !== undefined ? { sessionCookie } : {}),
    // Its own address, or through a relay's door a stream to it (see unlessSilent).
    silence: {
      address,
      answers: (a, fresh) => node.client.answersAt(peer, a, fresh),
      timing: silence,
    },
  });
}

/**
 * A login link: `next` checked before anything (a bad one spends nothing), then, when the
 * zone has a host name and the link was opened at another (it was made before the name was
 * given), the browser sent to the name first, so that the session covers every app's
 * subdomain; then the link is spent and the session set.
 */
async function login(
  node: NodeContext,
  request: Request,
  url: URL,
  config: GatewayConfig,
  hostHeader: string,
  secure: boolean,
): Promise<Response> {
  const next = url.searchParams.get("next") || "/";
  if (!isSameOriginPath(next)) {
    const words = await wordsFor(request);
    return page(words, 400, words.gatewayPages.loginLinkBroken, [
      words.gatewayPages.loginLinkLeadsAway,
      words.gatewayPages.loginLinkNew,
    ]);
  }
  const host = hostHeader.toLowerCase().replace(/:\d*$/, "").replace(/\.$/, "");
  if (config.host && host !== config.host) {
    return new Response(null, {
      status: 303,
      headers: {
        location: `${gatewayBase(config)}${LOGIN_PATH}${url.search}`,
        "cache-control": "no-store",
      },
    });
  }
  try {
    const token = url.searchParams.get("token") ?? "";
    // A link for another gateway of the zone's name (DNS sent the browser here): spent there.
    const fellow = fellowOf(node, loginGatewayOf(token));
    const answer = fellow
      ? await askFellow(node, fellow, { kind: "login", token })
      : acceptLogin(node, token);
    if (!("cookie" in answer)) throw new BuckyError("E_INTERNAL", "a login answered no session");
    const { cookie } = answer;
    const attributes = [
      `${SESSION_COOKIE}=${cookie}`,
      "Path=/",
      "HttpOnly",
      "SameSite=Lax",
      `Max-Age=${SESSION_TTL_S}`,
    ];
    // Reached by the zone's name, the session covers every app's subdomain; reached by
    // address (the zone has no name), it stays with that address.
    if (config.host) attributes.push(`Domain=${config.host}`);
    // Over HTTPS the cookie never travels in the clear (a plain listener only redirects then).
    if (secure) attributes.push("Secure");
    return new Response(null, {
      status: 303,
      headers: {
        location: next,
        "set-cookie": attributes.join("; "),
        "cache-control": "no-store",
      },
    });
  } catch (error) {
    if (!(error instanceof BuckyError)) throw error;
    const words = await wordsFor(request);
    return page(
      words,
      error.httpStatus,
      words.gatewayPages.loginLinkBroken,
      error.hint ? [error.message, error.hint] : [error.message],
    );
  }
}

/** The app a request is for, if any, for the log. */
function appOf(target: Route): string | undefined {
  return target.kind === "app" || target.kind === "app-slash" || target.kind === "app-by-name"
    ? target.app
    : undefined;
}

/** Why a gateway cannot listen, in words that say what to do. */
function listenError(config: GatewayConfig, address: string, error: unknown): BuckyError {
  const code = (error as NodeJS.ErrnoException).code;
  if (code === "EADDRINUSE") {
    return new BuckyError(
      "E_UNAVAILABLE",
      `the gateway cannot listen on ${address}: it is in use`,
      "Stop what uses it, or choose another address with `bucky gateway enable --listen`.",
      { cause: error },
    );
  }
  if (code === "EADDRNOTAVAIL" || code === "EACCES") {
    return new BuckyError(
      "E_INVALID_INPUT",
      `the gateway cannot listen on ${address} (${code})`,
      code === "EACCES"
        ? "Ports below 1024 need root; choose another with `bucky gateway enable --listen`."
        : "This device has no such address; choose another with `bucky gateway enable --listen`.",
      { cause: error },
    );
  }
  return new BuckyError(
    "E_INVALID_INPUT",
    `the gateway cannot start on ${address}: ${(error as Error).message}`,
    config.https
      ? "Check that --tls-cert and --tls-key are a certificate and its own key."
      : "Choose another address with `bucky gateway enable --listen`.",
    { cause: error },
  );
}

/** The start page: the apps whoever asks may use, and how to sign in or out. */
function homePage(words: Messages, table: RouteTable, viewer: Viewer | undefined): Response {
  const said = words.gatewayPages;
  const apps = table
    .allApps()
    .filter((entry) => mayUseApp(viewer, reachOf(entry.spec)))
    .map(
      (entry): Line => ({
        html: `<a href="/apps/${entry.spec.app}/">${escapeHtml(entry.spec.app)}</a>${entry.spec.manifest.description ? `: ${escapeHtml(entry.spec.manifest.description)}` : ""}`,
      }),
    );
  const who: Line =
    viewer?.kind === "person"
      ? {
          html: `${textHtml(said.signedInAs({ user: viewer.user }))} <form method="post" action="${SIGNOUT_PATH}" style="display:inline"><button type="submit">${escapeHtml(said.signOut)}</button></form> · <a href="${PANEL_PATH}/">${escapeHtml(said.yourPanel)}</a> · <a href="${ACCOUNT_PATH}">${escapeHtml(said.yourAccount)}</a>`,
        }
      : viewer
        ? {
            html: `${textHtml(said.throughDevice({ device: viewer.deviceName ?? viewer.device }))} <a href="${PANEL_PATH}/">${escapeHtml(said.thePanel)}</a>`,
          }
        : { text: said.signInForMore, href: SIGNIN_PATH };
  return page(words, 200, viewer ? said.yourApps : said.zoneApps, [
    ...(apps.length ? apps : [viewer ? said.noAppsForYou : said.noPublicApps]),
    who,
  ]);
}

/** How to sign in, from a page that needed it: the sign-in page, coming back to `next`. */
/**
 * The way to the sign-in page, then back to `next`. At a named gateway that is its name,
 * whatever origin the page is shown at: on an app's own name every path is the app's, and
 * the session is the zone name's.
 */
/**
 * The way to sign in, back to `next` after: at the zone's name, or at `base` (the gateway's
 * own port, from an app's), or else where the request came.
 */
function signInLine(words: Messages, config: GatewayConfig, next: string, base = ""): Line {
  return {
    text: words.gatewayPages.signInHow,
    href: `${config.host ? gatewayBase(config) : base}${SIGNIN_PATH}?next=${encodeURIComponent(next)}`,
  };
}

/**
 * `/ndn/<id>` for objects the zone marked public, within its budget for them (`sizes`): from
 * this device, fetched first if need be, no larger than it was made public as.
 */
async function servePublicObject(
  node: NodeContext,
  sizes: ReadonlyMap<ObjectId, number>,
  id: string,
  request: Request,
): Promise<Response> {
  const parsed = parseObjectId(id);
  const sizeBytes = parsed && sizes.get(parsed.id);
  if (!parsed || sizeBytes === undefined) {
    const words = await wordsFor(request);
    return page(words, 404, words.gatewayPages.noSuchObject, [
      words.gatewayPages.onlyPublicObjects,
    ]);
  }
  await fetchToStore(
    parsed.id,
    node.store,
    [storeSource(node.store), ...node.peers().map((peer) => peerSource(node.client, peer))],
    { limit: publicObjectLimit(sizeBytes) },
  );
  return ndnResponse(node.store, id, request);
}

/**
 * The weekday and minute now in a rule's time zone, or in the gateway's own (`ownZone`, the
 * system's when undefined) for a rule that names none. Formatting a date for a time zone is
 * slow, so it is done at most once a second for each zone.
 */
function localClock(now: () => number, ownZone: string | undefined) {
  let second: number | undefined;
  const inZone = new Map<string | undefined, LocalTime>();
  return {
    now(timeZone: string | undefined): LocalTime {
      const ms = now();
      if (Math.floor(ms / 1000) !== second) {
        second = Math.floor(ms / 1000);
        inZone.clear();
      }
      let found = inZone.get(timeZone);
      if (!found) {
        found = localTime(new Date(ms), timeZone ?? ownZone);
        inZone.set(timeZone, found);
      }
      return found;
    },
  };
}
