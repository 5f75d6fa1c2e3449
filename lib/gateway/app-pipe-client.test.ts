import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Socket } from "bun";
import { appCertificate } from "../../protocol/app-certificate.ts";
import { signingKeyFromSeed } from "../../protocol/ed25519.ts";
import { type DeviceId, deviceIdFromPublicKey } from "../../protocol/ids.ts";
import type { AppName } from "../../protocol/names.ts";
import { certificatePem, deviceCertificate, privateKeyPem } from "../../protocol/tls-cert.ts";
import { socketDoor } from "../apps/door.ts";
import { BuckyError } from "../errors.ts";
import { createLog } from "../log.ts";
import type { Contact, Peer } from "../node/peers.ts";
import { type TcpEnd, tcpEnd } from "../relay/pipe.ts";
import { type AppPipe, listenAppPipe, type PipeStream } from "./app-pipe.ts";
import {
  AppPipeClient,
  NO_PIPE_RECHECK_MS,
  PIPE_REFUSAL_HEADER,
  type PipeOutcome,
  refusalProof,
} from "./app-pipe-client.ts";
import { APP_USER_HEADER } from "./app-user.ts";

const notes = "notes" as AppName;
const log = createLog({ level: "silent", write: () => {} });
const deviceSeed = new Uint8Array(32).fill(3);
const deviceCertPem = certificatePem(deviceCertificate(signingKeyFromSeed(deviceSeed)));
const gatewaySeed = new Uint8Array(32).fill(4);
const gatewayKey = signingKeyFromSeed(gatewaySeed);

let scratch: string;
let appServer: ReturnType<typeof Bun.serve>;
let pipe: AppPipe;
/** A gateway the pipe has not heard of yet. */
const newGatewaySeed = new Uint8Array(32).fill(5);
const notYetGateway = deviceIdFromPublicKey(signingKeyFromSeed(newGatewaySeed).publicKey);
/** The gateway ids the pipe let in. */
const admitted: DeviceId[] = [];

beforeAll(() => {
  scratch = mkdtempSync(join(tmpdir(), "bucky-app-pipe-client-"));
  const socket = join(scratch, "app.sock");
  appServer = Bun.serve({
    unix: socket,
    fetch: async (request) => {
      const body = await request.text();
      // An app that marks its own answer as the pipe's refusal, as well as it can guess it.
      if (body.startsWith("forge "))
        return new Response("mine", {
          status: 403,
          headers: { "bucky-app-pipe": body.slice("forge ".length) },
        });
      return new Response(`${request.method} ${body}`);
    },
  });
  const door = socketDoor(notes, socket);
  pipe = listenAppPipe({
    hostname: "127.0.0.1",
    port: 0,
    cert: deviceCertPem,
    key: privateKeyPem(deviceSeed),
    rules: {
      admit(device) {
        if (device === notYetGateway)
          throw new BuckyError("E_PERMISSION", "the app pipe takes only the zone's gateways");
        admitted.push(device);
        return { door, gateway: "gw" };
      },
      isGateway: (device) => device !== notYetGateway,
      person: () => {
        throw new BuckyError("E_PERMISSION", "no person in these tests");
      },
      onChange: () => () => {},
    },
    log,
  });
});

afterAll(() => {
  pipe.stop();
  appServer.stop(true);
  rmSync(scratch, { recursive: true, force: true });
});

/** A gateway's client, its node faked: the device's answer to GET /v1/app-pipe, counted. */
function client(options: {
  address: string;
  pipePort: number | undefined;
  seed?: Uint8Array;
  /** The door to the pipe through this gateway's own relay, when there is one. */
  relayedPipe?: (pipe: { app: string; refusal: string }) => string;
}) {
  const seed = options.seed ?? gatewaySeed;
  const peer: Peer = {
    id: "device" as DeviceId,
    name: "nas",
    addresses: ["https://127.0.0.1:1"],
    certPem: deviceCertPem,
  };
  let nowMs = 1_000_000;
  const asked: string[] = [];
  const pipes = new AppPipeClient({
    now: () => nowMs,
    deviceKey: signingKeyFromSeed(seed),
    deviceKeyPem: privateKeyPem(seed),
    contacts: {
      get: () => ({ address: options.address, lastSeenAt: 0, rttMs: 0 }) as Contact,
      seen: () => {},
      heardFrom: () => {},
    },
    get: async (_peer, path) => {
      asked.push(path);
      return options.pipePort === undefined
        ? undefined
        : new TextEncoder().encode(JSON.stringify({ port: options.pipePort }));
    },
    relayedPipe: (_peer, pipe) => options.relayedPipe?.(pipe),
    log,
  });
  const send = (body: ReadableStream | Uint8Array | null = null, headers = new Headers()) =>
    pipes.forward(peer, notes, "/x", {
      method: "POST",
      headers,
      body,
      signal: new AbortController().signal,
    });
  return { send, asked, later: (ms: number) => (nowMs += ms) };
}

const why = (outcome: PipeOutcome) => ("why" in outcome ? outcome.why : "answered");

/**
 * A door as the gateway's own relay gives one: each connection to it served by the pipe as
 * a relay's stream of `gateway`, for the app and with the refusal proof the client named.
 */
function relayDoor(gateway: DeviceId): (opening: { app: string; refusal: string }) => string {
  const unix = join(scratch, `door-${doors.length}.sock`);
  let opening = { app: "", refusal: "" };
  const listener = Bun.listen<{ stream?: PipeStream; end?: TcpEnd }>({
    unix,
    socket: {
      open(socket) {
        const end = tcpEnd(socket as Socket<unknown>);
        socket.data = { end };
        socket.data.stream = pipe.take(gateway, opening.app as AppName, opening.refusal, {
          end,
          pause: () => socket.pause(),
          resume: () => socket.resume(),
          terminate: () => socket.terminate(),
        });
      },
      data: (socket, chunk) => socket.data.stream?.fromGateway(chunk),
      drain: (socket) => socket.data.end?.flush(),
      close: (socket) => {
        socket.data.end?.closed();
        socket.data.stream?.closed("closed by the gateway");
      },
    },
  });
  doors.push(listener);
  return (named) => {
    opening = named;
    return unix;
  };
}
const doors: { stop(force?: boolean): void }[] = [];
afterAll(() => {
  for (const door of doors) door.stop(true);
});

describe("the gateway's way to an app on another device", () => {
  test("a device called directly that runs a pipe: the app answers through it, as this gateway", async () => {
    const { send, asked } = client({ address: "https://127.0.0.1:1", pipePort: pipe.port });
    const outcome = await send(new TextEncoder().encode("hello"));
    expect("response" in outcome && (await outcome.response.text())).toBe("POST hello");
    expect(admitted.at(-1)).toBe(deviceIdFromPublicKey(gatewayKey.publicKey));
    // Where the pipe is, asked once.
    await send();
    expect(asked).toEqual(["/v1/app-pipe"]);
  });

  test("a device reached through a relay keeps the ingress, and is not even asked", async () => {
    const { send, asked } = client({ address: "relay:someone", pipePort: pipe.port });
    expect(why(await send())).toBe("not called directly");
    expect(asked).toEqual([]);
  });

  test("a device reached through this gateway's own relay, taking pipe streams: its pipe serves the relay's stream, as this gateway's", async () => {
    const gateway = deviceIdFromPublicKey(gatewayKey.publicKey);
    const { send, asked } = client({
      address: "relay:this-gateway",
      pipePort: pipe.port,
      relayedPipe: relayDoor(gateway),
    });
    const outcome = await send(new TextEncoder().encode("relayed"));
    expect("response" in outcome && (await outcome.response.text())).toBe("POST relayed");
    expect(admitted.at(-1)).toBe(gateway);
    // Whether its pipe listens, it says as a device called directly does.
    expect(asked).toEqual(["/v1/app-pipe"]);
  });

  test("a relay's stream the pipe refuses carries the proof the gateway named: the ingress gets the request", async () => {
    const { send } = client({
      address: "relay:this-gateway",
      pipePort: pipe.port,
      seed: newGatewaySeed,
      relayedPipe: relayDoor(notYetGateway),
    });
    const outcome = await send(new TextEncoder().encode("whole"));
    expect(why(outcome)).toBe("refused by the pipe (HTTP 403)");
    expect("fallBack" in outcome && outcome.fallBack.body).toEqual(
      new TextEncoder().encode("whole"),
    );
  });

  test("a relayed device that takes pipe streams but runs no pipe keeps the ingress", async () => {
    const { send } = client({
      address: "relay:this-gateway",
      pipePort: undefined,
      relayedPipe: () => "never used",
    });
    expect(why(await send())).toBe("no pipe");
  });

  test("an older device (404) keeps the ingress, asked again only after a while", async () => {
    const { send, asked, later } = client({
      address: "https://127.0.0.1:1",
      pipePort: undefined,
    });
    expect(why(await send())).toBe("no pipe");
    expect(why(await send())).toBe("no pipe");
    expect(asked.length).toBe(1);
    later(NO_PIPE_RECHECK_MS);
    await send();
    expect(asked.length).toBe(2);
  });

  test("a pipe that fails before any byte went: the ingress gets the whole body, and the pipe rests", async () => {
    // A port nothing listens on: the connection is refused.
    const closed = Bun.listen({ hostname: "127.0.0.1", port: 0, socket: { data() {} } });
    const port = closed.port;
    closed.stop(true);
    const { send, asked } = client({ address: "https://127.0.0.1:1", pipePort: port });
    const body = new ReadableStream<Uint8Array>({
      start(controller) {
        controller.enqueue(new TextEncoder().encode("all "));
        controller.enqueue(new TextEncoder().encode("of it"));
        controller.close();
      },
    });
    const outcome = await send(body);
    expect("fallBack" in outcome).toBe(true);
    if (!("fallBack" in outcome)) return;
    expect(await new Response(outcome.fallBack.body).text()).toBe("all of it");
    expect(why(await send())).toBe("the pipe failed lately");
    expect(asked.length).toBe(1);
  });

  test("a gateway the device does not take yet: the ingress gets the request, and the pipe rests", async () => {
    const { send } = client({
      address: "https://127.0.0.1:1",
      pipePort: pipe.port,
      seed: newGatewaySeed,
    });
    const outcome = await send(new TextEncoder().encode("whole"));
    expect(why(outcome)).toBe("refused by the pipe (HTTP 403)");
    expect("fallBack" in outcome && outcome.fallBack.body).toEqual(
      new TextEncoder().encode("whole"),
    );
    expect(why(await send())).toBe("the pipe failed lately");
  });

  test("a refusal that cannot go by the ingress (its streamed body went) reaches the client without its proof", async () => {
    const { send } = client({
      address: "https://127.0.0.1:1",
      pipePort: pipe.port,
      seed: newGatewaySeed,
    });
    const body = new ReadableStream<Uint8Array>({
      start(controller) {
        controller.enqueue(new TextEncoder().encode("gone already"));
        controller.close();
      },
    });
    const outcome = await send(body);
    if (!("response" in outcome)) throw new Error(`fell back: ${outcome.why}`);
    // Passed on to the client as the answer: the proof, a constant for this gateway and
    // app, would let whoever reads it (the app's own client) forge the pipe's refusals.
    expect(outcome.response.status).toBe(403);
    expect(outcome.response.headers.get(PIPE_REFUSAL_HEADER)).toBeNull();
    expect((await outcome.response.json()) as unknown).toMatchObject({
      error: { code: "E_PERMISSION" },
    });
  });

  test("one request refused (a person's assertion): the ingress gets it, and the pipe does not rest", async () => {
    const { send } = client({ address: "https://127.0.0.1:1", pipePort: pipe.port });
    const asserted = new Headers({ [APP_USER_HEADER]: "someone's assertion" });
    const refused = await send(new TextEncoder().encode("whole"), asserted);
    expect(why(refused)).toBe("refused by the pipe (HTTP 403)");
    // The next request, of another person or none, still goes by the pipe.
    const next = await send(new TextEncoder().encode("after"));
    expect("response" in next && (await next.response.text())).toBe("POST after");
  });

  test("an app's answer marked as the pipe's refusal is the app's answer: not sent again, the pipe not rested", async () => {
    const { send } = client({ address: "https://127.0.0.1:1", pipePort: pipe.port });
    const encode = (text: string) => new TextEncoder().encode(text);
    // What the pipe's refusals said before they carried a proof, and a guess of one.
    for (const forged of [
      "refused",
      refusalProof(appCertificate(gatewayKey, "other" as AppName)),
    ]) {
      const outcome = await send(encode(`forge ${forged}`));
      expect("response" in outcome && outcome.response.status).toBe(403);
      expect("response" in outcome && (await outcome.response.text())).toBe("mine");
    }
    const next = await send(encode("after"));
    expect("response" in next && (await next.response.text())).toBe("POST after");
  });
});
