/**
 * An attacker's fuzz of every HTTP surface of one daemon: the gateway (anyone on the
 * internet), the peer API before authentication (anyone who reaches the device) and after
 * it (a hostile member), and the local API. A daemon takes any error a handler throws that
 * is not a BuckyError for a bug and stops, so a crafted request that throws a TypeError is
 * a denial of service. Every answer must be a refusal in the API's own shape (or the
 * route's documented answer), and after each group the daemon must still be up and
 * answering, with nothing in its log about an unexpected error.
 *
 * Seeded: BUCKY_FUZZ_SEED=<n> replays a run (each failure names its seed and request);
 * BUCKY_FUZZ_VERBOSE=1 prints every answer's status.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { cpSync } from "node:fs";
import { connect as netConnect } from "node:net";
import { join, resolve } from "node:path";
import { connect as tlsConnect } from "node:tls";
import { readKeyFile } from "../lib/identity/key-file.ts";
import { createLog } from "../lib/log.ts";
import { encodeCbor } from "../protocol/cbor.ts";
import { signingKeyFromSeed } from "../protocol/ed25519.ts";
import { deviceIdFromPublicKey } from "../protocol/ids.ts";
import { signRequest, UNSIGNED_BODY } from "../protocol/request-auth.ts";
import {
  buckyJson,
  cleanUp,
  type Daemon,
  enableGateway,
  newHomePath,
  scratchDir,
  startDaemon,
  waitFor,
} from "./harness.ts";

afterAll(cleanUp);

const SEED = Number(process.env.BUCKY_FUZZ_SEED ?? 20261129);
/** Random requests per group, on top of the hand-picked ones. */
const RANDOM_CASES = 60;

/** mulberry32: a small seeded generator, so a failing run replays. */
function generator(seed: number) {
  let state = seed >>> 0;
  const next = () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  const pick = <T>(items: readonly T[]): T => items[Math.floor(next() * items.length)] as T;
  return { next, pick };
}

/** Values an attacker puts wherever a route reads text or a number. */
const NASTY = [
  "",
  "%",
  "%zz",
  "%ff",
  "%C0%AF",
  "%00",
  "%E2%82",
  "%F0%9F%98",
  "..",
  "%2e%2e",
  "..%2f..%2f",
  "-1",
  "-0",
  "0",
  "1.5",
  "1e400",
  "NaN",
  "Infinity",
  "-Infinity",
  "9007199254740993",
  "99999999999999999999999",
  "0x10",
  "abc",
  "null",
  "[]",
  "{}",
  "__proto__",
  "constructor",
  "toString",
  "a".repeat(5000),
  "\u00e9\u4e2d",
  "%EF%BF%BF",
  "sha256:",
  "sha256:zz",
  `sha256:${"a".repeat(64)}`,
  "clist:xyz",
  "did:bucky:x",
  "bd1",
];

/** Bodies of the wrong shape, as bytes (JSON, CBOR, neither). */
function nastyBodies(): Uint8Array[] {
  const text = (s: string) => new TextEncoder().encode(s);
  const deep = `${"[".repeat(20000)}${"]".repeat(20000)}`;
  const deepObject = `${'{"a":'.repeat(5000)}1${"}".repeat(5000)}`;
  return [
    new Uint8Array(),
    text("null"),
    text("[]"),
    text("{}"),
    text("1"),
    text('"x"'),
    text("true"),
    text('{"value":'),
    text(deep),
    text(deepObject),
    text(JSON.stringify({ name: ["x"], app: 1, id: null, token: {}, source: [], device: 7 })),
    text(JSON.stringify({ name: "x".repeat(200_000) })),
    text(JSON.stringify([{ name: "a" }])),
    text('{"__proto__":{"polluted":1},"constructor":{"prototype":{}}}'),
    new Uint8Array([0xff, 0xfe, 0xfd, 0x00, 0xc3, 0x28]),
    // CBOR: a map of wrong fields, an array, a huge declared length, an indefinite map, a tag.
    new Uint8Array([0xa2, 0x61, 0x61, 0x01, 0x61, 0x62, 0x80]),
    new Uint8Array([0x84, 0x01, 0x02, 0x03, 0x04]),
    new Uint8Array([0x5b, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff]),
    new Uint8Array([0xbf, 0x61, 0x61, 0x01]),
    new Uint8Array([0xd9, 0xd9, 0xf7, 0xf6]),
    new Uint8Array([0xa1, 0x64, 0x68, 0x61, 0x76, 0x65, 0xf6]),
    new Uint8Array([0xa1, 0x64, 0x68, 0x61, 0x76, 0x65, 0xa1, 0x61, 0x78, 0x3b, 0xff]),
    new Uint8Array([0xa1, 0x67, 0x65, 0x6e, 0x74, 0x72, 0x69, 0x65, 0x73, 0x81, 0x01]),
    new Uint8Array([0x1b, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff]),
    new Uint8Array([0xfb, 0x7f, 0xf8, 0, 0, 0, 0, 0, 0]),
  ];
}

interface RawAnswer {
  /** The status, or undefined when the connection closed without one. */
  readonly status: number | undefined;
  readonly head: string;
  readonly body: string;
}

/**
 * Sends `bytes` as they are (so nothing a client library refuses to send is left out) and
 * reads the answer's status line, head and body.
 */
function rawRequest(
  where: { host: string; port: number; tls: boolean },
  bytes: Uint8Array,
  /** Ends the sending side once the bytes are written: a body that breaks off. */
  hangUp = false,
): Promise<RawAnswer> {
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    const socket = where.tls
      ? tlsConnect({ host: where.host, port: where.port, rejectUnauthorized: false })
      : netConnect({ host: where.host, port: where.port });
    const finish = () => {
      clearTimeout(timer);
      const text = Buffer.concat(chunks).toString("latin1");
      const split = text.indexOf("\r\n\r\n");
      const head = split < 0 ? text : text.slice(0, split);
      const status = /^HTTP\/1\.[01] (\d{3})/.exec(head)?.[1];
      resolve({ status: status ? Number(status) : undefined, head, body: text.slice(split + 4) });
      socket.destroy();
    };
    const timer = setTimeout(finish, 15_000);
    socket.on(where.tls ? "secureConnect" : "connect", () => {
      socket.write(bytes);
      if (hangUp) socket.end();
    });
    socket.on("data", (chunk: Buffer) => {
      chunks.push(chunk);
      // One answer is enough: stop once it is whole (Content-Length, or a bodiless head).
      const text = Buffer.concat(chunks).toString("latin1");
      const split = text.indexOf("\r\n\r\n");
      if (split < 0) return;
      const length = /\r\ncontent-length: *(\d+)/i.exec(text.slice(0, split))?.[1];
      if (length !== undefined && text.length - split - 4 >= Number(length)) finish();
    });
    socket.on("end", finish);
    socket.on("error", finish);
    socket.on("close", finish);
  });
}

/** One HTTP/1.1 request in bytes: `head` lines as given (duplicates, odd bytes and all). */
function httpBytes(
  method: string,
  target: string,
  headers: readonly (readonly [string, string])[],
  body: Uint8Array = new Uint8Array(),
  { length = true }: { length?: boolean } = {},
): Uint8Array {
  const lines = [`${method} ${target} HTTP/1.1`, ...headers.map(([k, v]) => `${k}: ${v}`)];
  if (length && !headers.some(([k]) => k.toLowerCase() === "content-length"))
    lines.push(`content-length: ${body.length}`);
  lines.push("connection: close", "", "");
  const head = Buffer.from(lines.join("\r\n"), "latin1");
  const all = new Uint8Array(head.length + body.length);
  all.set(head);
  all.set(body, head.length);
  return all;
}

let daemon: Daemon;
let gateway: { host: string; port: number; tls: false };
let peer: { host: string; port: number; tls: true };
let sessionCookie: string;
let deviceKey: ReturnType<typeof signingKeyFromSeed>;

/** A new session at the gateway, through a login link: its cookie (name=value). */
async function signIn(): Promise<string> {
  const link = new URL(
    (await buckyJson<{ url: string }>(["login-link", "--home", daemon.home])).url,
  );
  const signedIn = await fetch(
    `http://${gateway.host}:${gateway.port}${link.pathname}${link.search}`,
    { redirect: "manual" },
  );
  const cookie = (signedIn.headers.get("set-cookie") ?? "").split(";")[0] as string;
  expect(cookie).toStartWith("bucky_session=");
  return cookie;
}

/** The daemon's local API over its socket. */
function local(path: string, init: RequestInit = {}): Promise<Response> {
  return fetch(`http://localhost${path}`, { ...init, unix: join(daemon.home, "daemon.sock") });
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** The daemon is up and answering, and its log names no unexpected error. */
async function expectStillUp(group: string): Promise<void> {
  const alive = isAlive(daemon.pid);
  const status = alive ? await local("/v1/status").then((r) => r.status, String) : "dead";
  const faults = daemon
    .log()
    .split("\n")
    .filter((line) => /unexpected error while serving a request|gateway fault/.test(line))
    .map((line) => line.slice(0, 2000));
  expect({ group, seed: SEED, alive, status, faults }).toEqual({
    group,
    seed: SEED,
    alive: true,
    status: 200,
    faults: [],
  });
}

/** What was wrong with an answer, or undefined when it is a refusal as the API makes them. */
function judge(answer: RawAnswer, { json }: { json: boolean }): string | undefined {
  if (answer.status === undefined) return undefined; // Said by fuzz, which looks at the daemon.
  // A 500 is a bug (E_INTERNAL, or the gateway's fault page); 502–504 say another is away.
  if (answer.status === 500 || answer.status > 504) return `status ${answer.status}`;
  if (!json || answer.status < 400) return undefined;
  if (!/content-type: *application\/json/i.test(answer.head)) return undefined;
  try {
    const body = JSON.parse(answer.body) as { error?: { code?: unknown; message?: unknown } };
    if (typeof body.error?.code !== "string" || typeof body.error?.message !== "string")
      return `error body ${answer.body.slice(0, 200)}`;
  } catch {
    return `unparsable error body ${answer.body.slice(0, 200)}`;
  }
  return undefined;
}

/** No request was answered wrongly; a failure names the seed that replays it. */
function expectNothingWrong(wrong: readonly string[]): void {
  expect({ seed: SEED, wrong }).toEqual({ seed: SEED, wrong: [] });
}

/** Sends every request and collects those answered wrongly. */
async function fuzz(
  where: { host: string; port: number; tls: boolean },
  requests: readonly { what: string; bytes: Uint8Array; hangUp?: boolean }[],
  json: boolean,
): Promise<string[]> {
  const wrong: string[] = [];
  for (const request of requests) {
    const answer = await rawRequest(where, request.bytes, request.hangUp);
    if (process.env.BUCKY_FUZZ_VERBOSE)
      console.log(
        "fuzz",
        answer.status,
        request.what.slice(0, 100),
        answer.body.replace(/\s+/g, " ").slice(0, 160),
      );
    const problem = judge(answer, { json });
    if (problem) wrong.push(`${request.what}: ${problem}`);
    // No answer at all: the runtime refused to parse it, or the daemon stopped (for this
    // request or one just before it; its log names the path).
    if (answer.status === undefined && !isAlive(daemon.pid)) {
      wrong.push(`${request.what}: no answer, and the daemon has stopped`);
      break;
    }
  }
  return wrong;
}

beforeAll(async () => {
  const home = newHomePath();
  await buckyJson(["init", "--home", home]);
  daemon = await startDaemon(home);
  const url = new URL(await enableGateway(home, ["--tls", "off"]));
  gateway = { host: url.hostname, port: Number(url.port), tls: false };
  const address = new URL(daemon.addresses[0] as string);
  peer = { host: address.hostname, port: Number(address.port), tls: true };
  sessionCookie = await signIn();
  // A public app (site), for its requests through the gateway and the ingress, and the
  // local API's routes of an installed app.
  const site = join(scratchDir(), "site");
  cpSync(resolve(import.meta.dir, "../fixtures/apps/site"), site, { recursive: true });
  await buckyJson(["app", "install", site, "--home", home]);
  await waitFor(
    "site to run",
    async () => {
      const status = await buckyJson<{ state: string }>(["app", "status", "site", "--home", home]);
      return status.state === "running" ? true : undefined;
    },
    30_000,
  );
  deviceKey = signingKeyFromSeed(
    readKeyFile(join(home, "identity", "device.key"), "device", createLog({ level: "silent" })),
  );
}, 60_000);

describe("the gateway, to anyone on the internet", () => {
  const paths = [
    "/",
    "/_bucky/login",
    "/_bucky/signin",
    "/_bucky/signout",
    "/_bucky/enroll",
    "/_bucky/account",
    "/_bucky/account/password",
    "/_bucky/panel/",
    "/_bucky/panel/devices",
    "/_bucky/panel/apps/x",
    "/mcp",
    "/ndn/",
    "/apps/x/",
    "/.well-known/acme-challenge/",
  ];
  const queries = ["token", "next", "code", "since", "q", "lines", "redirect", "id"];

  test("Host headers, paths, queries and methods an attacker makes", async () => {
    const { next, pick } = generator(SEED);
    const requests: { what: string; bytes: Uint8Array }[] = [];
    const hosts = [
      "127.0.0.1",
      "[1.2.3.4]",
      "1.2.3.999",
      "x..y",
      "%zz",
      "a".repeat(3000),
      "\u00e9",
      "h:99999",
      "h:-1",
      "",
    ];
    for (const host of hosts)
      requests.push({
        what: `host ${host.slice(0, 40)}`,
        bytes: httpBytes("GET", "/", [["host", host]]),
      });
    requests.push({ what: "no host", bytes: httpBytes("GET", "/", []) });
    requests.push({
      what: "two hosts",
      bytes: httpBytes("GET", "/", [
        ["host", "127.0.0.1"],
        ["host", "evil.example"],
      ]),
    });
    for (const path of paths)
      for (const value of NASTY)
        requests.push({
          what: `${path}?${value.slice(0, 40)}`,
          bytes: httpBytes("GET", `${path}${value}?${pick(queries)}=${value}&next=${value}`, [
            ["host", "127.0.0.1"],
            ["cookie", sessionCookie],
          ]),
        });
    const methods = ["GET", "POST", "PUT", "DELETE", "PATCH", "OPTIONS", "HEAD", "FOO"];
    for (let i = 0; i < RANDOM_CASES; i++) {
      const method = pick(methods);
      const path = `${pick(paths)}${pick(NASTY)}/${pick(NASTY)}`;
      const query = `?${pick(queries)}=${pick(NASTY)}&${pick(queries)}=${pick(NASTY)}`;
      requests.push({
        what: `${method} ${path.slice(0, 60)}${query.slice(0, 60)}`,
        bytes: httpBytes(
          method,
          `${path}${query}`,
          [
            ["host", next() < 0.8 ? "127.0.0.1" : pick(hosts)],
            [
              "content-type",
              pick(["application/json", "application/x-www-form-urlencoded", "text/plain"]),
            ],
          ],
          method === "GET" || method === "HEAD" ? new Uint8Array() : pick(nastyBodies()),
        ),
      });
    }
    expectNothingWrong(await fuzz(gateway, requests, false));
    await expectStillUp("gateway paths");
  }, 120_000);

  test("cookies, sessions, sign-in forms and login links an attacker makes", async () => {
    const { pick } = generator(SEED + 1);
    const cookies = [
      "bucky_session=",
      "bucky_session=%ff",
      "bucky_session=%zz",
      `bucky_session=${"a".repeat(8000)}`,
      "bucky_session=a.b.c",
      "bucky_session=bucky-session/3.x.y",
      `${sessionCookie}; ${sessionCookie}x`,
      "bucky_session",
      ";;;=;",
      "=",
      "bucky_session=\u00e9",
      `bucky_session=${sessionCookie.slice("bucky_session=".length, -3)}`,
    ];
    const requests: { what: string; bytes: Uint8Array }[] = [];
    for (const cookie of cookies)
      for (const path of [
        "/",
        "/_bucky/panel/",
        "/_bucky/panel/people",
        "/apps/x/",
        "/_bucky/account",
        "/_bucky/signout",
      ])
        requests.push({
          what: `cookie ${cookie.slice(0, 40)} at ${path}`,
          bytes: httpBytes(path === "/_bucky/signout" ? "POST" : "GET", path, [
            ["host", "127.0.0.1"],
            ["cookie", cookie],
          ]),
        });
    requests.push({
      what: "two cookie headers",
      bytes: httpBytes("GET", "/_bucky/panel/", [
        ["host", "127.0.0.1"],
        ["cookie", "bucky_session=x"],
        ["cookie", sessionCookie],
      ]),
    });
    const forms = [
      "name=&password=",
      "name=%ff&password=%zz",
      `name=${"a".repeat(100_000)}&password=x`,
      "name=a&name=b&password=c&password=d",
      "next=%zz",
      "=&&&=",
    ];
    for (const path of [
      "/_bucky/signin",
      "/_bucky/enroll",
      "/_bucky/signout",
      "/_bucky/account/password",
    ]) {
      for (const form of forms)
        requests.push({
          what: `form ${form.slice(0, 40)} to ${path}`,
          bytes: httpBytes(
            "POST",
            `${path}?next=${pick(NASTY)}`,
            [
              ["host", "127.0.0.1"],
              ["content-type", "application/x-www-form-urlencoded"],
              ["origin", pick(["null", "http://127.0.0.1", "%zz"])],
            ],
            new TextEncoder().encode(form),
          ),
        });
      for (const body of nastyBodies())
        requests.push({
          what: `JSON ${new TextDecoder().decode(body.slice(0, 30))} to ${path}`,
          bytes: httpBytes(
            "POST",
            path,
            [
              ["host", "127.0.0.1"],
              ["content-type", "application/json"],
            ],
            body,
          ),
        });
    }
    for (const value of NASTY)
      requests.push({
        what: `login link token=${value.slice(0, 40)}`,
        bytes: httpBytes("GET", `/_bucky/login?token=${value}&next=${pick(NASTY)}`, [
          ["host", "127.0.0.1"],
        ]),
      });
    expectNothingWrong(await fuzz(gateway, requests, false));
    await expectStillUp("gateway cookies and forms");
  }, 120_000);

  test("the panel's forms, signed in, with fields of every wrong shape", async () => {
    const { pick } = generator(SEED + 2);
    // A session of its own: the fuzz of cookies above signs out the one made at the start.
    const sessionCookie = await signIn();
    const posts = [
      "/devices/invite",
      "/devices/invitations/x/revoke",
      "/devices/x/revoke",
      "/devices/x/approve",
      "/backups/run",
      "/backups/verify",
      "/backups/targets/check",
      "/backups/targets/add",
      "/backups/targets/x/remove",
      "/backups/t/x/restore",
      "/people/add",
      "/people/x/reset",
      "/people/x/remove",
      "/people/x/sign-out",
      "/apps/install",
      "/apps/x/start",
      "/apps/x/stop",
      "/apps/x/share",
      "/apps/x/limits",
      "/rules/add",
      "/rules/x/remove",
      "/agents/grant",
      "/agents/x/revoke",
      "/store/install",
      "/store/catalogs/preview",
      "/store/catalogs/accept",
      "/store/catalogs/x/remove",
    ];
    const gets = [
      "/devices",
      "/backups",
      "/backups/live",
      "/backups/t/x",
      "/backups/t/x/s/y",
      "/people",
      "/apps",
      "/apps/live",
      "/apps/x",
      "/apps/x/logs",
      "/rules",
      "/agents",
      "/store",
      "/store/app/x",
      "/store/icon/x",
      "/store/catalogs",
      "/jobs/x",
      "/zone-ca.crt",
    ];
    const fields = [
      "name",
      "device",
      "app",
      "role",
      "target",
      "url",
      "since",
      "lines",
      "rps",
      "to",
      "source",
      "csrf",
      "days",
      "from",
    ];
    const requests: { what: string; bytes: Uint8Array }[] = [];
    for (const path of gets)
      for (let i = 0; i < 4; i++) {
        const value = pick(NASTY);
        requests.push({
          what: `GET ${path}?…=${value.slice(0, 40)}`,
          bytes: httpBytes(
            "GET",
            `/_bucky/panel${path}${i ? pick(NASTY) : ""}?${pick(fields)}=${value}&lang=${pick(NASTY)}`,
            [
              ["host", "127.0.0.1"],
              ["cookie", sessionCookie],
              ["accept-language", pick(NASTY)],
            ],
          ),
        });
      }
    for (const path of posts)
      for (let i = 0; i < 5; i++) {
        const form = Array.from({ length: 4 }, () => `${pick(fields)}=${pick(NASTY)}`).join("&");
        requests.push({
          what: `POST ${path} ${form.slice(0, 80)}`,
          bytes: httpBytes(
            "POST",
            `/_bucky/panel${path}`,
            [
              ["host", "127.0.0.1"],
              ["cookie", sessionCookie],
              ["origin", "http://127.0.0.1"],
              [
                "content-type",
                pick([
                  "application/x-www-form-urlencoded",
                  "multipart/form-data; boundary=x",
                  "application/json",
                  "multipart/form-data",
                ]),
              ],
            ],
            i === 4 ? pick(nastyBodies()) : new TextEncoder().encode(form),
          ),
        });
      }
    const wrong = await fuzz(gateway, requests, false);
    expectNothingWrong(wrong);
    await expectStillUp("panel forms");
  }, 120_000);
});

describe("bodies that break off or lie about their length", () => {
  test("on the gateway, the panel, agents' /mcp and the peer API", async () => {
    const sessionCookie = await signIn();
    const { token } = await buckyJson<{ token: string }>([
      "agent",
      "grant",
      "cut-short",
      "--read",
      "status",
      "--home",
      daemon.home,
    ]);
    const id = deviceIdFromPublicKey(deviceKey.publicKey);
    const targets: {
      where: typeof gateway | typeof peer;
      path: string;
      headers: [string, string][];
    }[] = [
      {
        where: gateway,
        path: "/_bucky/signin",
        headers: [["content-type", "application/x-www-form-urlencoded"]],
      },
      {
        where: gateway,
        path: "/_bucky/signin/passkey",
        headers: [["content-type", "application/json"]],
      },
      {
        where: gateway,
        path: "/_bucky/enroll/passkey/options",
        headers: [["content-type", "application/json"]],
      },
      {
        where: gateway,
        path: "/_bucky/panel/people/add",
        headers: [
          ["cookie", sessionCookie],
          ["origin", "http://127.0.0.1"],
          ["content-type", "application/x-www-form-urlencoded"],
        ],
      },
      {
        where: gateway,
        path: "/_bucky/panel/apps/install",
        headers: [
          ["cookie", sessionCookie],
          ["origin", "http://127.0.0.1"],
          ["content-type", "multipart/form-data; boundary=b"],
        ],
      },
      {
        where: gateway,
        path: "/_bucky/panel/store/catalogs/preview-file",
        headers: [
          ["cookie", sessionCookie],
          ["origin", "http://127.0.0.1"],
          ["content-type", "multipart/form-data; boundary=b"],
        ],
      },
      {
        where: gateway,
        path: "/mcp",
        headers: [
          ["authorization", `Bearer ${token}`],
          ["content-type", "application/json"],
          ["accept", "application/json, text/event-stream"],
        ],
      },
      { where: gateway, path: "/apps/nothing/", headers: [] },
      { where: peer, path: "/v1/join", headers: [["content-type", "application/json"]] },
      {
        where: peer,
        path: "/mcp",
        headers: [
          ["authorization", `Bearer ${token}`],
          ["content-type", "application/json"],
        ],
      },
    ];
    const starts = [
      '{"name":"a',
      "name=a&password=",
      '--b\r\ncontent-disposition: form-data; name="a"\r\n\r\nx',
      "\x00\xff",
    ];
    const requests: {
      where: typeof gateway | typeof peer;
      what: string;
      bytes: Uint8Array;
      hangUp?: boolean;
    }[] = [];
    for (const { where, path, headers } of targets)
      for (const start of starts) {
        const body = new TextEncoder().encode(start);
        const head: [string, string][] = [
          ["host", where === gateway ? "127.0.0.1" : `${peer.host}:${peer.port}`],
          ...headers,
        ];
        // Said longer than sent, then the sender stops; chunked and cut inside a chunk; a
        // chunk size that is no number.
        requests.push({
          where,
          what: `${path} said 100000, sent ${body.length}`,
          bytes: httpBytes("POST", path, [...head, ["content-length", "100000"]], body),
          hangUp: true,
        });
        requests.push({
          where,
          what: `${path} chunked, cut`,
          bytes: httpBytes(
            "POST",
            path,
            [...head, ["transfer-encoding", "chunked"]],
            new TextEncoder().encode(`ffff\r\n${start}`),
            { length: false },
          ),
          hangUp: true,
        });
        requests.push({
          where,
          what: `${path} chunk size zz`,
          bytes: httpBytes(
            "POST",
            path,
            [...head, ["transfer-encoding", "chunked"]],
            new TextEncoder().encode(`zz\r\n${start}\r\n0\r\n\r\n`),
            { length: false },
          ),
        });
      }
    // A member's sync push, signed over the whole body, sent in part.
    const body = new Uint8Array(5000).fill(0xa1);
    const signed = signRequest(
      { method: "POST", path: "/v1/sync/push", audience: id, body },
      deviceKey,
      Date.now(),
    );
    requests.push({
      where: peer,
      what: "a member's push, cut short",
      bytes: httpBytes(
        "POST",
        "/v1/sync/push",
        [
          ["host", `${peer.host}:${peer.port}`],
          ["content-length", "5000"],
          ...Object.entries(signed),
        ],
        body.slice(0, 100),
      ),
      hangUp: true,
    });
    const wrong: string[] = [];
    for (const request of requests) wrong.push(...(await fuzz(request.where, [request], false)));
    expectNothingWrong(wrong);
    await expectStillUp("bodies cut short");
  }, 120_000);
});

describe("the peer API, to anyone who reaches the device", () => {
  test("open routes and forged authentication", async () => {
    const { next, pick } = generator(SEED + 3);
    const requests: { what: string; bytes: Uint8Array }[] = [];
    const host: [string, string] = ["host", `${peer.host}:${peer.port}`];
    for (const body of nastyBodies())
      requests.push({
        what: `join ${new TextDecoder().decode(body.slice(0, 30))}`,
        bytes: httpBytes("POST", "/v1/join", [host, ["content-type", "application/json"]], body),
      });
    for (const value of NASTY) {
      for (const path of [
        "/v1/relay/connect/",
        "/v1/relay/accept/",
        "/ndn/",
        "/v1/cert/",
        "/v1/ingress/",
      ])
        requests.push({
          what: `${path}${value.slice(0, 40)}`,
          bytes: httpBytes("GET", `${path}${value}?x=${value}`, [
            host,
            ["upgrade", "websocket"],
            ["connection", "upgrade"],
            ["sec-websocket-key", pick(["dGhlIHNhbXBsZSBub25jZQ==", value])],
            ["sec-websocket-version", "13"],
          ]),
        });
    }
    requests.push({ what: "relay attach", bytes: httpBytes("GET", "/v1/relay/attach", [host]) });
    const id = deviceIdFromPublicKey(deviceKey.publicKey);
    const memberPaths = [
      "/v1/sync/pull",
      "/v1/sync/push",
      "/v1/sync/checkpoint",
      "/v1/apps/x/logs?lines=5",
      "/v1/replicas/x/head",
      "/v1/replicas/x/blobs",
      "/v1/replicas/x/ack",
      "/v1/backup/targets/x",
      "/v1/ingress/x/",
      "/v1/ndn/held/x",
    ];
    for (let i = 0; i < RANDOM_CASES * 2; i++) {
      const auth: [string, string][] = [];
      if (next() < 0.8) auth.push(["bucky-device", pick([id, ...NASTY])]);
      if (next() < 0.8) auth.push(["bucky-time", pick([String(Date.now()), ...NASTY])]);
      if (next() < 0.5) auth.push(["bucky-signature", pick(NASTY)]);
      if (next() < 0.5) auth.push(["bucky-mac", pick([...NASTY, "A".repeat(43)])]);
      if (next() < 0.2) auth.push(["bucky-device", pick(NASTY)]);
      if (next() < 0.2) auth.push(["bucky-gateway-user", pick(NASTY)]);
      const path = pick(memberPaths);
      const method = pick(["GET", "POST", "PUT"]);
      requests.push({
        what: `${method} ${path} ${JSON.stringify(auth).slice(0, 120)}`,
        bytes: httpBytes(
          method,
          path,
          [host, ...auth],
          method === "GET" ? undefined : pick(nastyBodies()),
        ),
      });
    }
    expectNothingWrong(await fuzz(peer, requests, true));
    await expectStillUp("peer API, open routes");
  }, 120_000);

  test("a member's requests, authenticated, with bodies and queries of every wrong shape", async () => {
    const { pick } = generator(SEED + 4);
    const id = deviceIdFromPublicKey(deviceKey.publicKey);
    const host: [string, string] = ["host", `${peer.host}:${peer.port}`];
    const signed = (
      method: string,
      path: string,
      body: Uint8Array,
    ): { what: string; bytes: Uint8Array } => {
      const headers = signRequest({ method, path, audience: id, body }, deviceKey, Date.now());
      return {
        what: `${method} ${path.slice(0, 80)} ${new TextDecoder().decode(body.slice(0, 30))}`,
        bytes: httpBytes(
          method,
          path,
          [host, ["content-type", "application/cbor"], ...Object.entries(headers)],
          body,
        ),
      };
    };
    const requests: { what: string; bytes: Uint8Array }[] = [];
    for (const path of [
      "/v1/sync/pull",
      "/v1/sync/push",
      "/v1/sync/checkpoint",
      "/v1/replicas/x/blobs",
      "/v1/replicas/x/ack",
      "/v1/backup/targets/x",
    ])
      for (const body of nastyBodies()) requests.push(signed("POST", path, body));
    for (const value of NASTY) {
      requests.push(signed("GET", `/v1/apps/${value}/logs?lines=${value}`, new Uint8Array()));
      requests.push(
        signed(
          "GET",
          `/v1/replicas/${value}/head?epoch=${value}&seq=${pick(NASTY)}&waitMs=${pick(["1", "0", "-5", value])}`,
          new Uint8Array(),
        ),
      );
      requests.push(signed("POST", `/v1/backup/targets/${value}`, pick(nastyBodies())));
      requests.push(signed("POST", `/v1/replicas/${value}/ack`, pick(nastyBodies())));
      requests.push(signed("GET", `/v1/ndn/held/${value}`, new Uint8Array()));
    }
    expectNothingWrong(await fuzz(peer, requests, true));
    await expectStillUp("peer API, a member's requests");
  }, 120_000);
});

describe("an app behind the gateway and the peer API's ingress", () => {
  test("requests an attacker makes to a public app, and a member's to its ingress", async () => {
    const { next, pick } = generator(SEED + 9);
    const host: [string, string] = ["host", "127.0.0.1"];
    const lengths = ["-1", "abc", "1e3", "99999999999999999999", "0x10", " 5", "5, 6", ""];
    const requests: { what: string; bytes: Uint8Array }[] = [];
    for (const length of lengths)
      requests.push({
        what: `content-length ${length}`,
        bytes: httpBytes(
          "POST",
          "/apps/site/",
          [host, ["content-length", length]],
          new TextEncoder().encode("hello"),
        ),
      });
    requests.push({
      what: "two content-lengths",
      bytes: httpBytes(
        "POST",
        "/apps/site/",
        [host, ["content-length", "5"], ["content-length", "50"]],
        new TextEncoder().encode("hello"),
      ),
    });
    requests.push({
      what: "content-length and chunked",
      bytes: httpBytes(
        "POST",
        "/apps/site/",
        [host, ["content-length", "5"], ["transfer-encoding", "chunked"]],
        new TextEncoder().encode("5\r\nhello\r\n0\r\n\r\n"),
      ),
    });
    requests.push({
      what: "many headers",
      bytes: httpBytes("GET", "/apps/site/", [
        host,
        ...Array.from({ length: 300 }, (_, i): [string, string] => [`x-h${i}`, "v"]),
      ]),
    });
    requests.push({
      what: "a huge header",
      bytes: httpBytes("GET", "/apps/site/", [host, ["x-big", "a".repeat(60_000)]]),
    });
    const headerNames = [
      "bucky-user",
      "bucky_user",
      "bucky-app-user",
      "x-forwarded-for",
      "x-forwarded-host",
      "forwarded",
      "expect",
      "upgrade",
      "connection",
      "sec-websocket-key",
      "sec-websocket-protocol",
      "cookie",
      "range",
      "if-none-match",
      "te",
      "origin",
    ];
    const headerValues = [
      "",
      "owner",
      "%zz",
      "100-continue",
      "websocket",
      "upgrade",
      "keep-alive, upgrade",
      "bytes=-1",
      "bytes=99999999999-1",
      "trailers",
      "\u00e9",
      "a".repeat(3000),
      "bucky_session=%ff",
    ];
    const methods = [
      "GET",
      "POST",
      "PUT",
      "DELETE",
      "PATCH",
      "OPTIONS",
      "HEAD",
      "CONNECT",
      "TRACE",
      "FOO",
    ];
    for (let i = 0; i < RANDOM_CASES * 2; i++) {
      const method = pick(methods);
      const headers: [string, string][] = [host];
      for (let j = 0; j < 3; j++)
        if (next() < 0.7) headers.push([pick(headerNames), pick(headerValues)]);
      const path = `/apps/site/${pick(NASTY)}/${pick(NASTY)}?${pick(NASTY)}=${pick(NASTY)}`;
      requests.push({
        what: `${method} ${path.slice(0, 80)} ${JSON.stringify(headers.slice(1)).slice(0, 120)}`,
        bytes: httpBytes(
          method,
          path,
          headers,
          method === "GET" || method === "HEAD" ? new Uint8Array() : pick(nastyBodies()),
        ),
      });
    }
    // What the app answers is its own: the gateway's part is never to fail, nor to stop.
    const gatewayWrong = (await fuzz(gateway, requests, false)).filter(
      (line) => !line.endsWith("status 500"),
    );
    // The ingress, as a gateway of the zone calls it: signed over method, path and query.
    const id = deviceIdFromPublicKey(deviceKey.publicKey);
    const ingress: { what: string; bytes: Uint8Array }[] = [];
    for (let i = 0; i < RANDOM_CASES; i++) {
      const method = pick(methods);
      const path = `/v1/ingress/${pick(["site", "site", ...NASTY])}/${pick(NASTY)}?${pick(NASTY)}`;
      const signed = signRequest(
        { method, path, audience: id, body: UNSIGNED_BODY },
        deviceKey,
        Date.now(),
      );
      const headers: [string, string][] = [
        ["host", `${peer.host}:${peer.port}`],
        ...Object.entries(signed),
      ];
      if (next() < 0.5) headers.push(["bucky-app-user", pick([...NASTY, "a.b.c"])]);
      if (next() < 0.3) headers.push([pick(headerNames), pick(headerValues)]);
      ingress.push({
        what: `ingress ${method} ${path.slice(0, 80)} ${JSON.stringify(headers.slice(4)).slice(0, 100)}`,
        bytes: httpBytes(
          method,
          path,
          headers,
          method === "GET" || method === "HEAD" ? new Uint8Array() : pick(nastyBodies()),
        ),
      });
    }
    const ingressWrong = (await fuzz(peer, ingress, false)).filter(
      (line) => !line.endsWith("status 500"),
    );
    // Named data the device holds (the app's package), open to anyone at /ndn/: byte ranges
    // of every odd form.
    const { package: packageId } = await buckyJson<{ package: string }>([
      "app",
      "status",
      "site",
      "--home",
      daemon.home,
    ]);
    const ranges = [
      "bytes=0-0",
      "bytes=-0",
      "bytes=-99999999999999999999",
      "bytes=99999999999999999999-",
      "bytes=5-1",
      "bytes=0-1,2-3",
      "bytes=a-b",
      "bytes=--1",
      "bytes=1e3-",
      "bytes= 1-2",
      "items=0-1",
      "bytes=-",
      "",
    ];
    const named = ranges.flatMap((range) =>
      [`/ndn/${packageId}`, `/ndn/${packageId}?object`].map((path) => ({
        what: `${path} range ${range}`,
        bytes: httpBytes("GET", path, [
          ["host", `${peer.host}:${peer.port}`],
          ["range", range],
        ]),
      })),
    );
    const namedWrong = await fuzz(peer, named, true);
    expectNothingWrong([...gatewayWrong, ...ingressWrong, ...namedWrong]);
    await expectStillUp("an app's requests");
  }, 120_000);
});

describe("the relay's tunnels, to anyone who reaches the device", () => {
  test("control messages of every wrong shape on a tunnel not yet admitted", async () => {
    const pick = generator(SEED + 8).pick;
    const b64 = (text: string) => Buffer.from(text).toString("base64url");
    const jws = (header: string, payload: string) => `${b64(header)}.${b64(payload)}.${b64("sig")}`;
    const messages = [
      "",
      "x",
      "null",
      "[]",
      "{}",
      '{"type":1}',
      '{"type":"ping"}',
      '{"type":"ready"}',
      '{"type":"open","stream":1}',
      '{"type":"hello"}',
      '{"type":"hello","document":1,"signature":[]}',
      JSON.stringify({ type: "hello", document: "a.b.c", signature: "%%", takes: "own" }),
      JSON.stringify({ type: "hello", document: "x", signature: "x", takes: [1, 2] }),
      JSON.stringify({ type: "hello", document: "x", signature: "x", takes: Array(100).fill("a") }),
      ...["null", "1", "[]", "{}", '{"kid":1}', '{"kid":"x"}', '{"kid":{}}'].flatMap((header) =>
        ["null", "{}", '{"id":1}', "[]"].map((payload) =>
          JSON.stringify({ type: "hello", document: jws(header, payload), signature: b64("x") }),
        ),
      ),
      "a".repeat(200_000),
    ];
    const closes: string[] = [];
    for (let i = 0; i < 12; i++) {
      const socket = new WebSocket(`wss://${peer.host}:${peer.port}/v1/relay/attach`, {
        tls: { rejectUnauthorized: false },
      } as never);
      socket.binaryType = "arraybuffer";
      const closed = new Promise<string>((resolve) => {
        socket.addEventListener("close", (event) => resolve(`${event.code}`));
        socket.addEventListener("error", () => resolve("error"));
      });
      await Promise.race([
        new Promise((resolve) => socket.addEventListener("open", resolve)),
        closed,
      ]);
      // A hello that is no hello closes the tunnel: a few of each before it does.
      for (let j = 0; j < 4 && socket.readyState === WebSocket.OPEN; j++)
        socket.send(j % 2 ? pick(messages) : new TextEncoder().encode(pick(messages)));
      if (socket.readyState === WebSocket.OPEN) socket.close();
      closes.push(await closed);
    }
    // Refused (1008, the relay's word for it) or closed by this side: never dropped unanswered.
    expect(closes.filter((code) => !["1008", "1000", "1005"].includes(code))).toEqual([]);
    await expectStillUp("relay tunnels");
  }, 120_000);
});

describe("agents' /mcp, on the gateway and the peer API", () => {
  test("forged tokens, and a real agent's calls of every wrong shape", async () => {
    const { pick } = generator(SEED + 7);
    const { token } = await buckyJson<{ token: string }>([
      "agent",
      "grant",
      "fuzzer",
      "--read",
      "status,apps,objects,state:notes/,data/notes",
      "--write",
      "data/notes",
      "--act",
      "app.start,app.stop,backup.run",
      "--home",
      daemon.home,
    ]);
    const tools = [
      "zone_status",
      "list_devices",
      "list_apps",
      "read_state",
      "list_state",
      "read_file",
      "search_files",
      "read_object",
      "start_app",
      "stop_app",
      "run_backup",
      "put_file",
      "write_state",
      "nonexistent",
    ];
    const argValues: unknown[] = [
      null,
      1,
      -1,
      1e308,
      "",
      "x",
      "../../etc/passwd",
      "%zz",
      "a".repeat(5000),
      [],
      {},
      true,
      "notes/x",
      `sha256:${"a".repeat(64)}`,
    ];
    const argNames = [
      "key",
      "prefix",
      "path",
      "query",
      "id",
      "app",
      "target",
      "text",
      "value",
      "dryRun",
      "limit",
      "offset",
    ];
    const messages: unknown[] = [
      null,
      [],
      [{}],
      "x",
      { jsonrpc: "2.0" },
      { jsonrpc: "1.0", id: 1, method: "ping" },
      { jsonrpc: "2.0", id: {}, method: "ping" },
      { jsonrpc: "2.0", id: 1, method: "tools/list", params: [] },
      { jsonrpc: "2.0", id: 1, method: "tools/call", params: null },
      { jsonrpc: "2.0", id: 1, method: "tools/call", params: { name: 1 } },
      { jsonrpc: "2.0", id: 1, method: "resources/read", params: { uri: "%zz" } },
    ];
    for (let i = 0; i < RANDOM_CASES * 2; i++) {
      const args = Object.fromEntries(
        Array.from({ length: 1 + Math.floor(i % 4) }, () => [pick(argNames), pick(argValues)]),
      );
      messages.push({
        jsonrpc: "2.0",
        id: i,
        method: "tools/call",
        params: { name: pick(tools), arguments: i % 7 === 0 ? pick(argValues) : args },
      });
    }
    const requests: { what: string; bytes: Uint8Array }[] = [];
    for (const [index, message] of messages.entries()) {
      const authorization =
        index % 5 === 4
          ? `Bearer ${pick(["x", token.slice(0, -2), `${token}x`, "%zz", ""])}`
          : `Bearer ${token}`;
      requests.push({
        what: `mcp ${authorization.slice(0, 20)} ${JSON.stringify(message)?.slice(0, 160)}`,
        bytes: httpBytes(
          "POST",
          "/mcp",
          [
            ["host", "127.0.0.1"],
            ["authorization", authorization],
            ["content-type", "application/json"],
            [
              "accept",
              index % 9 === 8 ? pick(["text/html", ""]) : "application/json, text/event-stream",
            ],
          ],
          new TextEncoder().encode(JSON.stringify(message)),
        ),
      });
    }
    for (const body of nastyBodies())
      requests.push({
        what: `mcp body ${new TextDecoder().decode(body.slice(0, 30))}`,
        bytes: httpBytes(
          "POST",
          "/mcp",
          [
            ["host", "127.0.0.1"],
            ["authorization", `Bearer ${token}`],
            ["content-type", "application/json"],
            ["accept", "application/json, text/event-stream"],
          ],
          body,
        ),
      });
    for (const method of ["GET", "DELETE", "PUT"])
      requests.push({
        what: `mcp ${method}`,
        bytes: httpBytes(method, "/mcp", [
          ["host", "127.0.0.1"],
          ["authorization", `Bearer ${token}`],
        ]),
      });
    // The gateway's answers are the MCP SDK's own (JSON-RPC errors), the peer API's the same.
    expectNothingWrong([
      ...(await fuzz(gateway, requests, false)),
      ...(await fuzz(peer, requests.slice(0, 60), false)),
    ]);
    await expectStillUp("agents' /mcp");
  }, 120_000);
});

describe("a member's sync messages, well formed CBOR of the wrong shape", () => {
  test("every field of a push, a pull and a checkpoint page request, one at a time", async () => {
    const { pick } = generator(SEED + 10);
    const id = deviceIdFromPublicKey(deviceKey.publicKey);
    const junkRecord = encodeCbor({ device: id, at: -1, doc: [] });
    const values: unknown[] = [
      null,
      -1,
      1.5,
      2 ** 60,
      "x",
      "",
      true,
      [],
      {},
      new Uint8Array(0),
      new Uint8Array(64).fill(7),
      [new Uint8Array(3)],
      [junkRecord],
      [encodeCbor({}), encodeCbor([1, 2]), encodeCbor([new Uint8Array(3), new Uint8Array(64)])],
      { [id]: -1 },
      { [id]: 1.5 },
      { [id]: 2 ** 60 },
      { [id]: "1" },
      { notAnId: 1 },
      [-1, 2 ** 60],
      Array.from({ length: 300 }, () => junkRecord),
    ];
    const bases: [string, Record<string, unknown>][] = [
      [
        "/v1/sync/push",
        {
          v: 1,
          have: {},
          entries: [],
          more: false,
          presence: [],
          presenceAgesMs: [],
          facts: [],
          factsHave: {},
          checkpoint: new Uint8Array(8),
        },
      ],
      [
        "/v1/sync/pull",
        { v: 1, have: {}, presence: [], presenceAgesMs: [], factsHave: {}, incomplete: true },
      ],
      ["/v1/sync/checkpoint", { v: 1, id: new Uint8Array(32), after: "" }],
    ];
    const host: [string, string] = ["host", `${peer.host}:${peer.port}`];
    const requests: { what: string; bytes: Uint8Array }[] = [];
    for (const [path, base] of bases)
      for (const field of Object.keys(base))
        for (let i = 0; i < 6; i++) {
          const value = pick(values);
          const body = encodeCbor({ ...base, [field]: value });
          const signed = signRequest(
            { method: "POST", path, audience: id, body },
            deviceKey,
            Date.now(),
          );
          requests.push({
            what: `${path} ${field}=${String(value).slice(0, 40)}`,
            bytes: httpBytes(
              "POST",
              path,
              [host, ["content-type", "application/cbor"], ...Object.entries(signed)],
              body,
            ),
          });
        }
    expectNothingWrong(await fuzz(peer, requests, true));
    await expectStillUp("a member's sync messages");
  }, 120_000);
});

describe("the local API, to root on the device", () => {
  test("every route with queries and bodies of the wrong shape", async () => {
    const { pick } = generator(SEED + 5);
    const routes: [string, string][] = [
      ["GET", "/v1/state?prefix=%s"],
      ["POST", "/v1/invites"],
      ["POST", "/v1/invites/%s/revoke"],
      ["GET", "/v1/devices/%s/drain"],
      ["POST", "/v1/devices/%s/drain"],
      ["POST", "/v1/apps"],
      ["POST", "/v1/apps/archive"],
      ["GET", "/v1/apps?all=%s"],
      ["GET", "/v1/apps/%s"],
      ["POST", "/v1/apps/%s/start"],
      ["POST", "/v1/apps/%s/restore-copy"],
      ["POST", "/v1/apps/%s/delete-copy"],
      ["POST", "/v1/apps/%s/move"],
      ["PUT", "/v1/apps/%s/share"],
      ["GET", "/v1/apps/%s/limits"],
      ["PUT", "/v1/apps/%s/limits"],
      ["GET", "/v1/apps/%s/logs?lines=%s&since=%s"],
      ["GET", "/v1/gateway/approvals/%s"],
      ["POST", "/v1/gateway/approvals"],
      ["POST", "/v1/relays"],
      ["GET", "/v1/traffic/zone?since=%s&bucketMs=%s"],
      ["GET", "/v1/traffic?since=%s&bucketMs=%s&app=%s"],
      ["GET", "/v1/jobs/%s"],
      ["POST", "/v1/agents"],
      ["POST", "/v1/agents/check"],
      ["POST", "/v1/agents/audit"],
      ["GET", "/v1/agents/log?since=%s&limit=%s&agent=%s"],
      ["POST", "/v1/users"],
      ["POST", "/v1/rules"],
      ["POST", "/v1/login-links"],
      ["POST", "/v1/ndn/public"],
      ["POST", "/v1/ndn/files"],
      ["DELETE", "/v1/ndn/files/%s"],
      ["GET", "/v1/store?q=%s"],
      ["GET", "/v1/store/apps/%s"],
      ["GET", "/v1/store/icons/%s"],
      ["POST", "/v1/store/catalogs/preview"],
      ["POST", "/v1/store/catalogs"],
      ["POST", "/v1/store/install"],
      ["GET", "/v1/backups/%s"],
      ["POST", "/v1/backups/run"],
      ["POST", "/v1/backups/verify"],
      ["POST", "/v1/backups/key"],
      ["POST", "/v1/backups/targets/probe"],
      ["POST", "/v1/backups/targets"],
      ["GET", "/v1/backups/%s/snapshots?x=%s"],
    ];
    const wrong: string[] = [];
    for (const [method, template] of routes) {
      const bodies = method === "GET" ? [undefined] : nastyBodies();
      for (let i = 0; i < (method === "GET" ? 8 : bodies.length); i++) {
        const path = template.replaceAll("%s", () => pick(NASTY));
        const body = bodies[i];
        let what = `${method} ${path.slice(0, 80)} ${body ? new TextDecoder().decode(body.slice(0, 30)) : ""}`;
        try {
          const response = await local(path, {
            method,
            headers: { "content-type": "application/json" },
            ...(body ? { body } : {}),
          });
          const text = await response.text();
          if (response.status >= 500)
            wrong.push(`${what}: ${response.status} ${text.slice(0, 200)}`);
          else if (response.status >= 400) {
            const parsed = JSON.parse(text) as { error?: { code?: unknown; message?: unknown } };
            if (typeof parsed.error?.code !== "string" || typeof parsed.error?.message !== "string")
              wrong.push(`${what}: ${text.slice(0, 200)}`);
          }
        } catch (error) {
          what += ` threw ${String(error)}`;
          wrong.push(what);
        }
      }
    }
    expectNothingWrong(wrong);
    await expectStillUp("local API");
  }, 120_000);

  test("fields of the wrong type in a body of the right shape", async () => {
    const { pick } = generator(SEED + 6);
    // A body each route takes (or refuses for what it names, not for its shape); each field
    // is then given a value of every other type, one at a time.
    const routes: [string, string, Record<string, unknown>][] = [
      ["POST", "/v1/rules", { action: "block", app: "x", between: "21:00-07:00", days: "mon-fri" }],
      [
        "POST",
        "/v1/gateway",
        {
          listen: "127.0.0.1:1",
          host: "h.example",
          tls: "off",
          httpListen: "127.0.0.1:2",
          acmeDirectory: "https://x",
          certFile: "/x",
          keyFile: "/y",
          eab: { kid: "k", hmacKey: "h" },
        },
      ],
      ["POST", "/v1/invites", { ttlMs: 60_000, uses: 1, backupKey: false }],
      ["POST", "/v1/agents", { name: "bot", read: ["status"], write: [], act: [], ttlMs: 60_000 }],
      ["POST", "/v1/agents/check", { token: "x", call: { tool: "zone_status", args: {} } }],
      ["POST", "/v1/agents/audit", { agent: "bot", tool: "zone_status", ok: true, at: 1, ms: 1 }],
      ["POST", "/v1/users", { name: "kid", role: "child", ttlMs: 60_000 }],
      ["POST", "/v1/users/kid/reset", { ttlMs: 60_000 }],
      ["POST", "/v1/users/kid/sign-out", {}],
      ["POST", "/v1/login-links", { ttlMs: 60_000, next: "/" }],
      ["POST", "/v1/ndn/public", { id: `sha256:${"a".repeat(64)}`, size: 1 }],
      ["POST", "/v1/ndn/files", { id: `sha256:${"a".repeat(64)}`, name: "x" }],
      [
        "POST",
        "/v1/gateway/approvals",
        { device: "x", hosts: ["a.example"], addresses: ["1.2.3.4"] },
      ],
      ["POST", "/v1/relays", { ticket: "x" }],
      ["POST", "/v1/apps/x/move", { to: "x" }],
      ["PUT", "/v1/apps/site/share", { with: ["everyone"] }],
      ["PUT", "/v1/apps/site/limits", { rps: 5, bandwidth: "10MB/s" }],
      ["POST", "/v1/apps/x/restore-copy", { copy: "x" }],
      ["POST", "/v1/devices/x/drain", { cancel: true }],
      ["POST", "/v1/store/catalogs/preview", { source: "/nonexistent" }],
      ["POST", "/v1/store/catalogs", { token: "x", publisher: "p" }],
      ["POST", "/v1/store/install", { catalog: "c", app: "a", device: "d" }],
      ["POST", "/v1/backups/key", { phrase: "x" }],
      ["POST", "/v1/backups/targets", { name: "t", url: "/nonexistent" }],
      ["PUT", "/v1/state/notes/x", { value: 1 }],
    ];
    const values: unknown[] = [
      null,
      1,
      -1,
      1.5,
      1e308,
      true,
      "",
      "x",
      "a".repeat(5000),
      [],
      ["x"],
      [1],
      {},
      { a: 1 },
    ];
    const wrong: string[] = [];
    for (const [method, path, base] of routes) {
      for (const field of Object.keys(base)) {
        for (let i = 0; i < 4; i++) {
          const body = JSON.stringify({ ...base, [field]: pick(values) });
          const what = `${method} ${path} ${body.slice(0, 160)}`;
          const answer = await local(path, {
            method,
            headers: { "content-type": "application/json" },
            body,
          }).then(
            async (response) => ({ status: response.status, text: await response.text() }),
            (error) => ({ status: 0, text: String(error) }),
          );
          if (answer.status === 0 || answer.status === 500 || answer.status > 504)
            wrong.push(`${what}: ${answer.status} ${answer.text.slice(0, 200)}`);
        }
      }
    }
    expectNothingWrong(wrong);
    await expectStillUp("local API fields");
  }, 120_000);
});

/** A library's words to programmers ("Cannot destructure property 'type' from null"), not people's. */
const LIBRARY_WORDS =
  /Cannot (read|destructure)|undefined|is not a function|Unexpected [a-z]+ response/;

describe("a gateway reached by a host name (apps by subdomain, passkeys)", () => {
  test("Host headers of every odd form, and passkey steps with answers of every wrong shape", async () => {
    const { pick } = generator(SEED + 11);
    const NAME = "fuzz.localhost";
    // Plain HTTP: a local name would get the zone CA's certificate.
    const url = new URL(await enableGateway(daemon.home, ["--tls", "off", "--host", NAME]));
    const named = { host: url.hostname, port: Number(url.port), tls: false as const };
    const at = `${NAME}:${named.port}`;
    const hosts = [
      at,
      `site.${at}`,
      `SITE.${NAME.toUpperCase()}:${named.port}`,
      `x.y.${at}`,
      `${NAME}.:${named.port}`,
      `site.${NAME}.`,
      `-.${at}`,
      `xn--zz.${at}`,
      `site.${NAME}:99999`,
      `site.${NAME}:`,
      `%73ite.${at}`,
      `site..${at}`,
      `${"a".repeat(64)}.${at}`,
    ];
    const requests: { what: string; bytes: Uint8Array }[] = [];
    for (const host of hosts)
      for (let i = 0; i < 4; i++) {
        const path = i === 0 ? "/" : `/${pick(NASTY)}/${pick(NASTY)}?next=${pick(NASTY)}`;
        requests.push({
          what: `${host.slice(0, 60)} ${path.slice(0, 60)}`,
          bytes: httpBytes(pick(["GET", "POST", "HEAD"]), path, [["host", host]]),
        });
      }
    requests.push({
      what: "a login link opened at another name",
      bytes: httpBytes("GET", `/_bucky/login?token=x&next=${pick(NASTY)}`, [["host", "127.0.0.1"]]),
    });
    // A person's enrollment link, as anyone holding it: each passkey answer gets a fresh
    // ceremony, then an answer of the wrong shape.
    const { enrollment } = await buckyJson<{ enrollment: { url: string } }>([
      "user",
      "add",
      "enrolling",
      "--role",
      "child",
      "--home",
      daemon.home,
    ]);
    const token = new URL(enrollment.url).searchParams.get("token") ?? "";
    const origin = `http://${at}`;
    const post = (path: string, body: unknown) =>
      fetch(`http://${named.host}:${named.port}${path}`, {
        method: "POST",
        headers: { host: at, origin, "content-type": "application/json" },
        body: JSON.stringify(body),
      });
    const b64 = (text: string) => Buffer.from(text).toString("base64url");
    const answers: unknown[] = [
      null,
      "x",
      [],
      {},
      { id: 1, type: "public-key" },
      { id: b64("id"), type: "public-key", response: null },
      { id: b64("id"), type: "public-key", response: "x" },
      { id: b64("id"), type: "public-key", response: { clientDataJSON: 1 } },
      {
        id: b64("id"),
        type: "public-key",
        response: { clientDataJSON: b64("{}"), attestationObject: b64("x") },
      },
      {
        id: b64("id"),
        type: "public-key",
        response: { clientDataJSON: b64("null"), attestationObject: b64("\xa0") },
      },
      {
        id: b64("id"),
        type: "public-key",
        response: {
          clientDataJSON: b64(JSON.stringify({ type: "webauthn.create", challenge: 1, origin })),
          attestationObject: b64("\xa3cfmtdnone"),
        },
      },
      { id: "%zz", type: "public-key", response: { clientDataJSON: "%", attestationObject: "%" } },
    ];
    const wrong: string[] = [];
    for (const answer of answers) {
      const options = await post("/_bucky/enroll/passkey/options", { token });
      const { ceremony } = (await options.json()) as { ceremony?: string };
      for (const [path, body] of [
        ["/_bucky/enroll/passkey", { ceremony, response: answer }],
        ["/_bucky/signin/passkey/options", { name: pick(["enrolling", "owner", ...NASTY]) }],
        [
          "/_bucky/signin/passkey",
          { ceremony: pick([ceremony, ...NASTY]), response: answer, next: pick(NASTY) },
        ],
      ] as const) {
        const response = await post(path, body);
        const text = await response.text();
        if (process.env.BUCKY_FUZZ_VERBOSE)
          console.log("fuzz", response.status, path, text.slice(0, 160));
        // A refusal is said in bucky's words, never the WebAuthn verifier's to its programmers.
        if (response.status === 500 || response.status > 504 || LIBRARY_WORDS.test(text))
          wrong.push(
            `${path} ${JSON.stringify(body).slice(0, 120)}: ${response.status} ${text.slice(0, 160)}`,
          );
      }
    }
    // What the app answers is its own (site's 500 for a path it cannot decode).
    const gatewayWrong = (await fuzz(named, requests, false)).filter(
      (line) => !(line.toLowerCase().startsWith("site.") && line.endsWith("status 500")),
    );
    expectNothingWrong([...gatewayWrong, ...wrong]);
    await expectStillUp("a gateway reached by a host name");
  }, 120_000);
});
