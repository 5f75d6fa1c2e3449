/**
 * A person's own sign-in, zone-wide, in a zone of two gateways each killed (SIGKILL) in
 * turn: an enrollment link made at one opens at the other with the first dead (which says
 * the account is that gateway's alone until another device holds it); a
 * password changed at one gateway is the only one that works at the other with the
 * first dead, and the sessions of the old one end there; signing out everywhere (from
 * the person's account page, or by the owner with `bucky user sign-out --everywhere`)
 * ends every earlier session at the other gateway with the acting one dead, and a sign-out
 * ends there a session that gateway let in a moment before (and remembers as standing)
 * as soon as it holds the record, and closes the WebSockets that session holds open to an
 * app there; and a
 * device's sign-out everywhere dated far ahead ends nothing and dates no session ahead.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import {
  appDir,
  appOrigin,
  bucky,
  buckyJson,
  cleanUp,
  type Daemon,
  enableGateway,
  jsonError,
  startDaemon,
  startZone,
  waitFor,
} from "./harness.ts";

afterAll(cleanUp);

let alpha: Daemon;
let beta: Daemon;
let alphaGateway: string;
let betaGateway: string;
const FIRST = "ann's first password";
const SECOND = "ann's second password";

/** A form posted from `gateway`'s own pages. */
function post(gateway: string, path: string, fields: Record<string, string>, cookie?: string) {
  return fetch(`${gateway}${path}`, {
    method: "POST",
    headers: {
      origin: gateway,
      "content-type": "application/x-www-form-urlencoded",
      ...(cookie ? { cookie } : {}),
    },
    body: new URLSearchParams(fields),
    redirect: "manual",
  });
}

const cookieOf = (response: Response) =>
  (response.headers.get("set-cookie") ?? "").split(";")[0] as string;

/** ann signed in at `gateway` with `password`: the answer's status and session cookie. */
async function signIn(gateway: string, password: string): Promise<[number, string]> {
  const response = await post(gateway, "/_bucky/signin", { name: "ann", password });
  return [response.status, cookieOf(response)];
}

/** The panel at `gateway` with `cookie`: its status, and whether it says signed out. */
async function panelAt(gateway: string, cookie: string): Promise<[number, boolean]> {
  const response = await fetch(`${gateway}/_bucky/panel/`, {
    headers: { cookie },
    redirect: "manual",
  });
  return [response.status, (await response.text()).includes("your session was signed out")];
}

/** The panel at `gateway` with `cookie`: its status, and why it refused, if it did. */
async function panelText(gateway: string, cookie: string): Promise<[number, string]> {
  const response = await fetch(`${gateway}/_bucky/panel/`, {
    headers: { cookie },
    redirect: "manual",
  });
  const text = await response.text();
  return [
    response.status,
    /the password your session was opened with [^<.]*/.exec(text)?.[0] ?? "",
  ];
}

/** Restarts a daemon killed before, on its own port (where its peers look for it). */
async function restart(daemon: Daemon): Promise<Daemon> {
  const port = Number(new URL(daemon.addresses[0] as string).port);
  return startDaemon(daemon.home, {}, { port });
}

/** Waits until every key under `prefix` that `from` holds, `to` holds too. */
async function synced(from: Daemon, to: Daemon, prefix: string): Promise<void> {
  const keys = async (home: string) =>
    (
      await buckyJson<{ entries: { key: string }[] }>(["state", "list", prefix, "--home", home])
    ).entries
      .map((entry) => entry.key)
      .sort();
  const wanted = await keys(from.home);
  await waitFor(`${prefix} at ${to.home}`, async () => {
    const held = new Set(await keys(to.home));
    return wanted.every((key) => held.has(key)) ? true : undefined;
  });
}

/** A zone-only app on beta that echoes WebSockets, for a session's socket held open. */
const ECHO = `
Bun.serve({
  hostname: "127.0.0.1",
  port: Number(process.env.PORT),
  fetch(request, server) {
    const path = new URL(request.url).pathname;
    if (path === "/health") return new Response("ok");
    if (path === "/stream")
      return new Response(new ReadableStream({
        async pull(c) { await Bun.sleep(100); c.enqueue(new TextEncoder().encode("data: more\\n\\n")); },
      }), { headers: { "content-type": "text/event-stream" } });
    return server.upgrade(request) ? undefined : new Response("no", { status: 400 });
  },
  websocket: { message(ws, message) { ws.send(message); } },
});
`;

/** How a WebSocket opened with `cookie` at `gateway`'s echo app closed, once it has. */
async function echoSocket(
  gateway: string,
  cookie: string,
): Promise<{ closed: () => { code: number; reason: string } | undefined }> {
  let closed: { code: number; reason: string } | undefined;
  // Bun's client takes headers: a browser sends the cookie itself.
  const echo = await appOrigin(gateway, "echo");
  const socket = new WebSocket(`${echo.replace("http", "ws")}/`, {
    headers: { cookie },
  } as unknown as string[]);
  socket.onclose = (event) => {
    closed = { code: event.code, reason: event.reason };
  };
  const echoed = await new Promise<string>((resolve, reject) => {
    socket.onopen = () => socket.send("still there?");
    socket.onmessage = (event) => resolve(String(event.data));
    socket.onerror = () => reject(new Error("the echo socket failed"));
  });
  expect(echoed).toBe("still there?");
  return { closed: () => closed };
}

/** How an endless answer streamed with `cookie` from `gateway`'s echo app ended, once it has. */
async function echoStream(
  gateway: string,
  cookie: string,
): Promise<{ ended: () => string | undefined }> {
  const echo = await appOrigin(gateway, "echo");
  const response = await fetch(`${echo}/stream`, { headers: { cookie } });
  expect(response.status).toBe(200);
  const reader = (response.body as ReadableStream<Uint8Array>).getReader();
  expect((await reader.read()).done).toBe(false);
  let ended: string | undefined;
  void (async () => {
    try {
      while (!(await reader.read()).done);
      ended = "ended";
    } catch {
      ended = "cut";
    }
  })();
  return { ended: () => ended };
}

beforeAll(async () => {
  const zone = await startZone(["alpha", "beta"]);
  alpha = zone.get("alpha") as Daemon;
  beta = zone.get("beta") as Daemon;
  alphaGateway = await enableGateway(alpha.home);
  betaGateway = await enableGateway(beta.home);
  const echo = appDir(
    {
      id: "echo",
      version: "1.0.0",
      run: { command: ["bun", "echo.ts"] },
      http: {},
      exposure: "zone",
      health: { path: "/health", intervalMs: 300 },
    },
    { "echo.ts": ECHO },
  );
  await buckyJson(["app", "install", echo, "--device", "beta", "--home", alpha.home]);
}, 60_000);

describe("a person's sign-in, zone-wide", () => {
  test("an enrollment link made at alpha opens at beta with alpha killed, once", async () => {
    const added = await buckyJson<{
      heldElsewhere: string;
      enrollment: {
        url: string;
        gateway: string;
        otherGateways: { gateway: string; url: string }[];
      };
    }>(["user", "add", "ann", "--home", alpha.home]);
    expect([added.heldElsewhere, added.enrollment.gateway]).toEqual(["held", "alpha"]);
    expect(added.enrollment.otherGateways.map((other) => other.gateway)).toEqual(["beta"]);
    const atBeta = new URL((added.enrollment.otherGateways[0] as { url: string }).url);
    expect(atBeta.origin).toBe(betaGateway);
    const token = atBeta.searchParams.get("token") as string;
    // The same token at either gateway.
    expect(new URL(added.enrollment.url).searchParams.get("token")).toBe(token);
    await alpha.kill();
    const enrolled = await post(betaGateway, "/_bucky/enroll", {
      token,
      password: FIRST,
      confirm: FIRST,
    });
    // Signed in, and told the account is beta's alone until alpha is back: it was said done
    // (303), and lost with beta had it gone too, the link spent there, or used twice.
    expect([enrolled.status, await enrolled.text()]).toEqual([
      200,
      expect.stringContaining("no other device of the zone has heard of your account yet"),
    ]);
    expect(await panelAt(betaGateway, cookieOf(enrolled))).toEqual([200, false]);
    const again = await post(betaGateway, "/_bucky/enroll", {
      token,
      password: "someone else's",
      confirm: "someone else's",
    });
    expect([again.status, (await again.text()).includes("already used")]).toEqual([403, true]);
    expect((await signIn(betaGateway, FIRST))[0]).toBe(303);
    // alpha, back, holds what beta recorded: the link is spent there too, the password works.
    alpha = await restart(alpha);
    await synced(beta, alpha, "users/ann/");
    const atAlpha = await post(alphaGateway, "/_bucky/enroll", {
      token,
      password: "someone else's",
      confirm: "someone else's",
    });
    expect([atAlpha.status, (await atAlpha.text()).includes("already used")]).toEqual([403, true]);
    expect((await signIn(alphaGateway, FIRST))[0]).toBe(303);
  }, 60_000);

  test("a link used at both gateways before either heard of the other makes no way in", async () => {
    const added = await buckyJson<{ heldElsewhere: string; enrollment: { url: string } }>([
      "user",
      "add",
      "bob",
      "--home",
      alpha.home,
    ]);
    expect(added.heldElsewhere).toBe("held");
    const token = new URL(added.enrollment.url).searchParams.get("token") as string;
    const enroll = (gateway: string, password: string) =>
      post(gateway, "/_bucky/enroll", { token, password, confirm: password });
    // bob at alpha while beta is dead; a thief with the leaked link at beta while alpha is.
    await beta.kill();
    // Each told the other gateways do not know it yet (and not to open the link there).
    const bobs = await enroll(alphaGateway, "bob's own password");
    expect(bobs.status).toBe(200);
    await alpha.kill();
    beta = await restart(beta);
    const thiefs = await enroll(betaGateway, "the thief's password");
    expect(thiefs.status).toBe(200);
    alpha = await restart(alpha);
    await synced(alpha, beta, "users/bob/");
    await synced(beta, alpha, "users/bob/");
    // Two records of one link: neither counts, at either gateway, nor the sessions it opened.
    for (const gateway of [alphaGateway, betaGateway]) {
      for (const password of ["bob's own password", "the thief's password"])
        expect((await post(gateway, "/_bucky/signin", { name: "bob", password })).status).toBe(403);
      for (const cookie of [cookieOf(bobs), cookieOf(thiefs)])
        expect((await panelAt(gateway, cookie))[0]).toBe(401);
    }
    // Said so on each device, not as a link never opened: maybe a theft, and a new link is due.
    for (const home of [alpha.home, beta.home]) {
      const { people } = await buckyJson<{ people: { name: string }[] }>([
        ...["user", "list", "--home", home],
      ]);
      expect(people.find((person) => person.name === "bob")).toMatchObject({
        signsInWith: [],
        linkUsedTwice: true,
      });
      const text = await bucky(["user", "list", "--home", home]);
      expect(text.stdout.split("\n").find((line) => line.startsWith("bob "))).toBe(
        "bob  member  their enrollment link was used twice, at two gateways at once: no way in it made counts (someone else may have had it); give them a new link with `bucky user reset bob`",
      );
    }
  }, 60_000);

  test("a password changed at beta is the only one at alpha with beta killed; its old sessions end", async () => {
    const [, oldAtAlpha] = await signIn(alphaGateway, FIRST);
    const [, current] = await signIn(betaGateway, FIRST);
    // Not without a session, nor from another site, nor with a wrong password now.
    const anonymous = await post(betaGateway, "/_bucky/account/password", {
      current: FIRST,
      password: SECOND,
      confirm: SECOND,
    });
    expect([anonymous.status, anonymous.headers.get("location")]).toEqual([
      303,
      "/_bucky/signin?next=%2F_bucky%2Faccount",
    ]);
    const foreign = await fetch(`${betaGateway}/_bucky/account/password`, {
      method: "POST",
      headers: {
        origin: "https://evil.example",
        "content-type": "application/x-www-form-urlencoded",
        cookie: current,
      },
      body: new URLSearchParams({ current: FIRST, password: SECOND, confirm: SECOND }),
      redirect: "manual",
    });
    expect(foreign.status).toBe(403);
    const wrong = await post(
      betaGateway,
      "/_bucky/account/password",
      { current: "not it at all", password: SECOND, confirm: SECOND },
      current,
    );
    expect([wrong.status, (await wrong.text()).includes("not your password now")]).toEqual([
      403,
      true,
    ]);
    expect(beta.log()).toContain("password change refused user=ann");
    // The start page leads there.
    const start = await fetch(`${betaGateway}/`, { headers: { cookie: current } });
    expect((await start.text()).includes('href="/_bucky/account"')).toBe(true);
    const page = await fetch(`${betaGateway}/_bucky/account`, { headers: { cookie: current } });
    expect([
      page.status,
      (await page.text()).includes('action="/_bucky/account/password"'),
    ]).toEqual([200, true]);
    const changed = await post(
      betaGateway,
      "/_bucky/account/password",
      { current: FIRST, password: SECOND, confirm: SECOND },
      current,
    );
    expect([changed.status, (await changed.text()).includes("Your password is changed")]).toEqual([
      200,
      true,
    ]);
    const renewed = cookieOf(changed);
    expect(renewed).not.toBe(current);
    await beta.kill();
    expect((await signIn(alphaGateway, FIRST))[0]).toBe(403);
    expect((await signIn(alphaGateway, SECOND))[0]).toBe(303);
    // The sessions the old password opened end; this browser's new one goes on.
    for (const cookie of [oldAtAlpha, current])
      expect(await panelText(alphaGateway, cookie)).toEqual([
        401,
        "the password your session was opened with no longer lets ann in",
      ]);
    expect(await panelAt(alphaGateway, renewed)).toEqual([200, false]);
    beta = await restart(beta);
    await synced(alpha, beta, "users/ann/");
  }, 60_000);

  test("a sign-out at alpha ends a session beta let in a moment before, once beta holds it", async () => {
    // Each cookie is let in at beta first, so beta remembers a session that stood: the
    // sign-out must end it there at once, not once beta next looks (up to a minute).
    const [, once] = await signIn(alphaGateway, SECOND);
    expect(await panelAt(betaGateway, once)).toEqual([200, false]);
    const single = await post(alphaGateway, "/_bucky/signout", {}, once);
    expect(single.status).toBe(303);
    await synced(alpha, beta, "nodes/alpha/signed-out/");
    expect(await panelAt(betaGateway, once)).toEqual([401, true]);
    const [, atBeta] = await signIn(betaGateway, SECOND);
    expect(await panelAt(betaGateway, atBeta)).toEqual([200, false]);
    const [, atAlpha] = await signIn(alphaGateway, SECOND);
    const out = await post(alphaGateway, "/_bucky/signout", { everywhere: "1" }, atAlpha);
    expect(out.status).toBe(303);
    await synced(alpha, beta, "nodes/alpha/signed-out-everywhere/");
    expect(await panelAt(betaGateway, atBeta)).toEqual([401, true]);
  }, 60_000);

  test("a WebSocket a session opened at beta is closed once beta holds its end (sign-out, removal), alpha killed", async () => {
    await waitFor(
      "the echo app running on beta",
      async () => {
        const status = await buckyJson<{ state: string }>([
          ...["app", "status", "echo", "--home", beta.home],
        ]);
        return status.state === "running" ? true : undefined;
      },
      30_000,
    );
    const [, atBeta] = await signIn(betaGateway, SECOND);
    const [, kept] = await signIn(betaGateway, SECOND);
    const ending = await echoSocket(betaGateway, atBeta);
    const streaming = await echoStream(betaGateway, atBeta);
    const [, atAlpha] = await signIn(alphaGateway, SECOND);
    // A single sign-out of another session leaves it open.
    const other = await echoSocket(betaGateway, kept);
    expect((await post(alphaGateway, "/_bucky/signout", {}, kept)).status).toBe(303);
    await waitFor("beta to close the socket of the session signed out", () => other.closed());
    expect(ending.closed()).toBeUndefined();
    // A person removed at alpha: their socket at beta closes too.
    const added = await buckyJson<{ enrollment: { url: string } }>([
      ...["user", "add", "cy", "--home", alpha.home],
    ]);
    const token = new URL(added.enrollment.url).searchParams.get("token") as string;
    const password = "cy's own password";
    const enrolled = await post(betaGateway, "/_bucky/enroll", {
      token,
      password,
      confirm: password,
    });
    expect(enrolled.status).toBe(303);
    const cys = await echoSocket(betaGateway, cookieOf(enrolled));
    await buckyJson(["user", "remove", "cy", "--home", alpha.home]);
    expect(await waitFor("beta to close cy's socket", () => cys.closed())).toEqual({
      code: 1008,
      reason: "cy is no longer a person of this zone",
    });
    const out = await post(alphaGateway, "/_bucky/signout", { everywhere: "1" }, atAlpha);
    expect(out.status).toBe(303);
    await alpha.kill();
    // Answered once beta held the record: beta has closed it, or does so now.
    expect(await waitFor("beta to close the socket", () => ending.closed())).toEqual({
      code: 1008,
      reason: "your session was signed out",
    });
    // And its event stream, cut.
    expect(await waitFor("beta to end the stream", () => streaming.ended())).toBe("cut");
    expect(beta.log()).toContain("connections closed count=2 why=signed-out");
    expect(beta.log()).not.toContain("gateway fault");
    alpha = await restart(alpha);
  }, 60_000);

  test("a WebSocket and a stream open at beta are closed once a block rule added at alpha reaches beta, alpha killed", async () => {
    const [, cookie] = await signIn(betaGateway, SECOND);
    const socket = await echoSocket(betaGateway, cookie);
    const stream = await echoStream(betaGateway, cookie);
    // Answered once another device (beta) holds the rule.
    const rule = await buckyJson<{ id: string; heldElsewhere: string }>([
      ...["rule", "add", "block", "--app", "echo", "--user", "ann", "--home", alpha.home],
    ]);
    expect(rule.heldElsewhere).toBe("held");
    await alpha.kill();
    const closed = await waitFor("beta to close the socket", () => socket.closed());
    expect(closed.code).toBe(1008);
    expect(closed.reason).toStartWith(`blocked by rule ${rule.id}:`);
    expect(await waitFor("beta to end the stream", () => stream.ended())).toBe("cut");
    expect(beta.log()).toContain(`connection closed why="blocked by rule ${rule.id}:`);
    alpha = await restart(alpha);
    await buckyJson(["rule", "rm", rule.id, "--home", alpha.home]);
  }, 60_000);

  test("signing out everywhere at alpha ends every earlier session at beta with alpha killed", async () => {
    const [, atAlpha] = await signIn(alphaGateway, SECOND);
    const [, atBeta] = await signIn(betaGateway, SECOND);
    // Both let in at beta first (remembered there as sessions that stood).
    for (const cookie of [atAlpha, atBeta])
      expect(await panelAt(betaGateway, cookie)).toEqual([200, false]);
    const out = await post(alphaGateway, "/_bucky/signout", { everywhere: "1" }, atAlpha);
    expect([out.status, out.headers.get("location")]).toEqual([303, "/"]);
    await alpha.kill();
    for (const cookie of [atAlpha, atBeta])
      expect(await panelAt(betaGateway, cookie)).toEqual([401, true]);
    // Signing in again, even within the same second, opens a session that stands.
    const [status, fresh] = await signIn(betaGateway, SECOND);
    expect(status).toBe(303);
    expect(await panelAt(betaGateway, fresh)).toEqual([200, false]);
    alpha = await restart(alpha);
    await synced(beta, alpha, "nodes/");
  }, 60_000);

  test("`bucky user sign-out --everywhere` at beta holds at alpha with beta killed", async () => {
    const [, atAlpha] = await signIn(alphaGateway, SECOND);
    const [, atBeta] = await signIn(betaGateway, SECOND);
    for (const cookie of [atAlpha, atBeta])
      expect(await panelAt(alphaGateway, cookie)).toEqual([200, false]);
    const usage = await bucky(["user", "sign-out", "ann", "--json", "--home", beta.home]);
    expect([usage.exitCode, jsonError(usage).code]).toEqual([2, "E_USAGE"]);
    const missing = await bucky([
      "user",
      "sign-out",
      "nobody",
      "--everywhere",
      "--json",
      "--home",
      beta.home,
    ]);
    expect(jsonError(missing).code).toBe("E_NOT_FOUND");
    const done = await buckyJson<{ user: string; signedOutUntil: string; heldElsewhere: string }>([
      "user",
      "sign-out",
      "ann",
      "--everywhere",
      "--home",
      beta.home,
    ]);
    expect([done.user, done.heldElsewhere]).toEqual(["ann", "held"]);
    expect(Number.isNaN(Date.parse(done.signedOutUntil))).toBe(false);
    await beta.kill();
    for (const cookie of [atAlpha, atBeta])
      expect(await panelAt(alphaGateway, cookie)).toEqual([401, true]);
    expect((await signIn(alphaGateway, SECOND))[0]).toBe(303);
  }, 60_000);

  test("a device's sign-out everywhere dated far ahead ends nothing at beta with it killed", async () => {
    beta = await restart(beta);
    const [, before] = await signIn(betaGateway, SECOND);
    // Any member device writes its own records: once, every session of ann ended, and the
    // next one, dated a second after year 128724, never expired.
    await bucky([
      "state",
      "set",
      "nodes/alpha/signed-out-everywhere/ann",
      JSON.stringify({ until: 4e12 }),
      "--home",
      alpha.home,
    ]);
    await synced(alpha, beta, "nodes/alpha/");
    await alpha.kill();
    expect(await panelAt(betaGateway, before)).toEqual([200, false]);
    const [status, fresh] = await signIn(betaGateway, SECOND);
    expect(status).toBe(303);
    expect(await panelAt(betaGateway, fresh)).toEqual([200, false]);
    // Dated now (in seconds, as the cookie's signed payload says), so it ends in 30 days: at
    // most two clock skews (2 × 60 s) ahead, as a session opened just after the sign-out
    // everywhere the test before made is dated (lib/users/sessions.ts newClaims), not in
    // the year the planted record names.
    const payload = (fresh.split("=")[1] as string).split(".")[1] as string;
    const { iat } = JSON.parse(Buffer.from(payload, "base64url").toString()) as { iat: number };
    const aheadS = iat - Date.now() / 1000;
    expect(aheadS > -60 && aheadS <= 121).toBe(true);
  }, 60_000);
});
