/**
 * The API other devices call, served over TLS with this device's certificate. Every
 * route but the certificate, joining, the relay and AI agents' `/mcp` (which checks
 * their tokens itself) needs a request signed by a member in good standing; a revoked or
 * quarantined device is refused.
 */
import type { Server } from "bun";
import { Hono, type MiddlewareHandler } from "hono";
import { decodePageRequest } from "../../protocol/checkpoint.ts";
import { ProtocolError } from "../../protocol/errors.ts";
import type { DeviceId } from "../../protocol/ids.ts";
import { JOIN_PATH, JOIN_RULES_QUERY } from "../../protocol/join.ts";
import { decodeBlobRequest, decodeReplicaAck, encodeBlobAnswer } from "../../protocol/replica.ts";
import { REQUEST_HEADERS } from "../../protocol/request-auth.ts";
import {
  decodeEarlierRequest,
  decodeEntries,
  decodePullRequest,
  encodeAck,
  encodeEntries,
  MAX_SYNC_MESSAGE_BYTES,
} from "../../protocol/sync-messages.ts";
import { localLogs, logLines } from "../apps/logs.ts";
import type { TargetHost } from "../backup/target-host.ts";
import { checkpointPage, offerFor } from "../checkpoint/transfer.ts";
import { BuckyError } from "../errors.ts";
import type { IngressViewers } from "../gateway/app-user.ts";
import {
  decodeFellowStep,
  FELLOW_SIGN_IN_PATH,
  type FellowAnswer,
  type FellowStep,
} from "../gateway/fellow-sign-in.ts";
import type { BridgeData } from "../gateway/forward.ts";
import type { Log } from "../log.ts";
import { requireObjectId } from "../ndn/object-id.ts";
import { ndnRoutes } from "../ndn/serve.ts";
import type { RelayHub, RelaySocketData } from "../relay/hub.ts";
import { HEAD_WAIT_MS } from "../replica/follower.ts";
import type { Replication } from "../replica/replication.ts";
import { pullPage, versionVector } from "../sync/exchange.ts";
import { standingOf } from "../sync/membership.ts";
import { admitDevice } from "../zone/admit.ts";
import { admitMember } from "./admit-member.ts";
import { boundedBody, errorHandler, jsonBody, requestLog } from "./http.ts";
import type { NodeContext } from "./node-context.ts";
import { INGRESS_PREFIX, isIngressUrl, serveIngress } from "./peer-ingress.ts";
import { wholeNumberQuery } from "./query-number.ts";
import { readBody } from "./request-body.ts";

type PeerEnv = { Variables: { peer: string; device: DeviceId; body: Uint8Array } };

export interface PeerServices {
  readonly relay: RelayHub;
  /** AI agents' MCP endpoint on this device. */
  readonly mcp: (request: Request) => Promise<Response>;
  /** App data this device holds, for its standbys. */
  readonly replication: Replication;
  /** The backup targets this device reaches, for the members that reach them through it. */
  readonly targets: TargetHost;
  /** Who the apps' traffic comes with: checked by the ingress and the app pipe alike. */
  readonly people: IngressViewers;
  /** The port of this device's app pipe (lib/gateway/app-pipe.ts), when it runs one. */
  readonly appPipePort?: () => number | undefined;
  /** Takes a step of signing in another gateway carried here (lib/gateway/fellow-sign-in.ts). */
  readonly answerFellow?: (step: FellowStep) => Promise<FellowAnswer>;
}

/** The peer API, as the device's TLS server calls it. */
export interface PeerApi {
  fetch(request: Request, server: Server<unknown>): Response | Promise<Response>;
}

export function createPeerApp(
  node: NodeContext,
  log: Log,
  onBug: (error: unknown) => void,
  services: PeerServices,
): PeerApi {
  const { relay, mcp, replication, targets, people } = services;
  const app = new Hono<PeerEnv>();
  app.use(requestLog(log, "peer"));
  app.onError(errorHandler(log, onBug));
  // The server takes app bodies as large as the gateway does; nothing else is read past
  // a sync message, and nothing at all before it is whole (callers are checked after).
  app.use(boundedBody(MAX_SYNC_MESSAGE_BYTES, INGRESS_PREFIX));

  app.route("/ndn", ndnRoutes(node.store));

  app.get("/v1/cert", (c) =>
    c.text(node.certificatePem, 200, { "content-type": "application/x-pem-file" }),
  );

  app.all("/mcp", (c) => mcp(c.req.raw));

  // A joining device says the level of write rules it reads; one that says none is of a
  // bucky before levels (protocol/join.ts joinPath). A newer bucky's may be above ours.
  const joinerLevels = { min: 0, max: Number.MAX_SAFE_INTEGER, absent: 0 };
  app.post(JOIN_PATH, async (c) => {
    const { answer } = admitDevice(node, await jsonBody(c, MAX_SYNC_MESSAGE_BYTES), {
      clockMs: statedTimeMs(c.req.header(REQUEST_HEADERS.time)),
      writeRules: wholeNumberQuery(c.req.query(JOIN_RULES_QUERY), JOIN_RULES_QUERY, joinerLevels),
    });
    return c.body(answer, 200, { "content-type": "application/json" });
  });

  // Everything under /v1 but the certificate and joining is for members only.
  // A quarantined device may pull, to hear of its quarantine (and nothing else).
  app.use("/v1/sync/*", memberOnly(node, ["/v1/sync/pull"]));
  app.use("/v1/apps/*", memberOnly(node));
  app.use("/v1/backup/*", memberOnly(node));
  // Where the zone's gateways reach this device's apps without the ingress's second proxy
  // (docs/app-pipe.md). Told here, to members only, rather than in the signed device
  // document: a device without one answers 404, and its gateways keep the ingress.
  app.use("/v1/app-pipe", memberOnly(node));
  app.get("/v1/app-pipe", (c) => {
    const port = services.appPipePort?.();
    if (port === undefined)
      throw new BuckyError("E_NOT_FOUND", `${node.deviceName} runs no app pipe`);
    return c.json({ port });
  });
  // The relay, for devices behind NAT: it checks callers itself (they need not be members).
  app.get("/v1/relay/attach", (c) => relay.attach(c.req.raw, c.env as Server<RelaySocketData>));
  app.get("/v1/relay/connect/:device", (c) =>
    relay.connect(c.req.raw, c.env as Server<RelaySocketData>, c.req.param("device")),
  );
  app.get("/v1/relay/accept/:stream", (c) =>
    relay.accept(c.req.raw, c.env as Server<RelaySocketData>, c.req.param("stream")),
  );
  app.get("/v1/apps/:app/logs", (c) =>
    c.json(localLogs(node, c.req.param("app"), logLines(c.req.query("lines")))),
  );

  // Whether this device holds an object whole: a gateway's copy of a public file, asked
  // by the device that made it public (lib/gateway/public-copies.ts).
  // A step of signing in that began here (or a link made for here), carried by a gateway
  // of the zone's name the browser was sent to: the member's word for where it came from.
  app.use(FELLOW_SIGN_IN_PATH, memberOnly(node));
  app.post(FELLOW_SIGN_IN_PATH, async (c) => {
    if (!services.answerFellow)
      throw new BuckyError("E_UNAVAILABLE", `${node.deviceName} runs no gateway`);
    return c.json(await services.answerFellow(decodeFellowStep(c.get("body"))));
  });
  app.use("/v1/ndn/*", memberOnly(node));
  app.get("/v1/ndn/held/:id", (c) => {
    const parsed = requireObjectId(c.req.param("id"));
    return c.json({ whole: node.store.holdsWhole(parsed.id) });
  });

  app.use("/v1/replicas/*", memberOnly(node));
  app.get("/v1/replicas/:app/head", async (c) => {
    // Whole numbers, checked where read (lib/node/query-number.ts); a longer wait than
    // this device gives is its longest.
    const number = (name: string) =>
      wholeNumberQuery(c.req.query(name), name, {
        min: 0,
        max: Number.MAX_SAFE_INTEGER,
        absent: 0,
      });
    const head = await replication.nextHead(
      c.req.param("app"),
      c.get("peer"),
      { epoch: number("epoch"), seq: number("seq") },
      Math.min(HEAD_WAIT_MS, number("waitMs")),
    );
    return head ? c.json(head) : c.body(null, 204);
  });
  app.post("/v1/replicas/:app/blobs", (c) =>
    cbor(
      encodeBlobAnswer(
        replication.blobs(
          c.req.param("app"),
          decode(() => decodeBlobRequest(c.get("body"))),
        ),
      ),
    ),
  );
  app.post("/v1/replicas/:app/ack", (c) => {
    const body = decode(() => decodeReplicaAck(c.get("body")));
    replication.acknowledge(c.req.param("app"), c.get("peer"), body);
    return c.json({ ok: true });
  });

  // The backup targets this device reaches, for the members that reach them through it.
  app.post("/v1/backup/targets/:target", async (c) => {
    const answer = await targets.serve(c.get("device"), c.req.param("target"), c.get("body"));
    return new Response(answer.bytes, { headers: { "content-type": answer.contentType } });
  });

  app.post("/v1/sync/pull", (c) => {
    const request = decode(() => decodePullRequest(c.get("body")));
    const { have, factsHave, proofsHave, heads } = request;
    const asker = c.get("device");
    // A quarantined device is refused everything else: its pull gets its own proof and
    // nothing of the zone, so that it learns it, refuses its own writes and says so.
    if (standingOf(node.membership(), asker) === "quarantined")
      return cbor(
        encodeEntries({
          have: new Map(),
          entries: [],
          more: false,
          proofs: node.proofsFor(proofsHave ?? new Map(), asker),
        }),
      );
    node.receivePresence(request);
    node.saidHolding(asker, have);
    // One that lacks what this device compacted away gets the checkpoint to fetch first.
    const offer = offerFor(node.db.$client, have);
    // None of a quarantined author from its fork on (the asker's proof or this node's).
    const withheld = node.withheldFrom(proofsHave);
    // The other halves of forks of one length (`heads`) first, then what it lacks, one page.
    // Not what it lacks while this device's sync loop sends it that: the same pages, at
    // once over the same uplink (this device's push carries them; its next pull gets the
    // rest). The halves of forks still come: only a pull brings them.
    const page = () =>
      pullPage(
        node.db,
        have,
        heads,
        withheld,
        undefined,
        node.forksKnownWith(proofsHave),
        !node.sendingTurns.underWay(asker),
      );
    return cbor(
      encodeEntries({
        ...(offer
          ? { have: versionVector(node.db), entries: [], more: false, checkpoint: offer }
          : page()),
        ...node.presence(),
        facts: node.factsFor(factsHave),
        factsHave: node.factsHave(),
        proofs: node.proofsFor(proofsHave),
        proofsHave: node.proofsHave(),
      }),
    );
  });

  // An author's changesets below a seq, for a member that met a broken chain of it here
  // and looks for where their histories part (lib/sync/fork-search.ts). Each is signed by
  // its author: nothing here is this device's word.
  app.post("/v1/sync/earlier", (c) => {
    const { author, below } = decode(() => decodeEarlierRequest(c.get("body")));
    return cbor(
      encodeEntries({
        have: versionVector(node.db),
        entries: node.changesetsBelow(author, below),
        more: false,
      }),
    );
  });

  app.post("/v1/sync/checkpoint", (c) =>
    cbor(
      checkpointPage(
        node.db.$client,
        decode(() => decodePageRequest(c.get("body"))),
      ),
    ),
  );

  app.post("/v1/sync/push", async (c) => {
    const message = decode(() => decodeEntries(c.get("body")));
    const { entries, facts, proofs } = message;
    // A device proven to equivocate is quarantined before its changesets are looked at.
    node.receiveProofs(proofs, c.get("peer"));
    const result = entries.length > 0 ? await node.ingest(entries, c.get("peer")) : undefined;
    // A broken chain from the pusher: the next exchange with it looks for the fork.
    node.noteBrokenChains(result, c.get("peer"));
    node.receivePresence(message);
    node.receiveFacts(facts);
    node.saidHolding(c.get("device"), message.have);
    // The ack carries this node's vector: the sender sends whatever it still lacks.
    return cbor(
      encodeAck({
        have: versionVector(node.db),
        applied: result?.applied.length ?? 0,
        rejected: result?.rejected.length ?? 0,
        ...node.presence(),
      }),
    );
  });

  // Apps running here, for the zone's gateways: requests and WebSockets stream through,
  // ahead of the router (every check of memberOnly is made there too).
  return {
    fetch: (request, server) =>
      isIngressUrl(request.url)
        ? serveIngress(node, log, onBug, people, request, server as Server<BridgeData>)
        : app.fetch(request, server),
  };
}

/**
 * Admits a request only from a member in good standing (lib/node/admit-member.ts). Reads
 * the body, which the signature or tag covers.
 */
function memberOnly(
  node: NodeContext,
  /** Paths a quarantined device may call too (each answers it accordingly). */
  quarantinedMay: readonly string[] = [],
): MiddlewareHandler<PeerEnv> {
  return async (c, next) => {
    const body = await readBody(c.req.raw, MAX_SYNC_MESSAGE_BYTES);
    const url = new URL(c.req.url);
    const device = admitMember(
      node,
      { method: c.req.method, path: url.pathname + url.search, body },
      c.req.raw.headers,
      (peer) => c.set("peer", peer),
      c.req.method === "POST" && quarantinedMay.includes(url.pathname),
    );
    c.set("device", device);
    c.set("body", body);
    await next();
  };
}

/** The time a request states it was made (its sender's clock), if it states one. */
function statedTimeMs(header: string | undefined): number | undefined {
  return header !== undefined && /^\d{1,16}$/.test(header) ? Number(header) : undefined;
}

function decode<T>(parse: () => T): T {
  try {
    return parse();
  } catch (error) {
    if (error instanceof ProtocolError)
      throw new BuckyError("E_USAGE", `malformed sync message: ${error.message}`);
    throw error;
  }
}

function cbor(bytes: Uint8Array): Response {
  return new Response(bytes, { headers: { "content-type": "application/cbor" } });
}
