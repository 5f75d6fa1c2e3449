import { afterAll, describe, expect, test } from "bun:test";
import { signingKeyFromSeed } from "../../protocol/ed25519.ts";
import { deviceIdFromPublicKey } from "../../protocol/ids.ts";
import { signLoginToken } from "../../protocol/session.ts";
import { testNodeContext } from "../node/test-node-context.ts";
import { appendLocalChangeset } from "../state/feed.ts";
import {
  foundingOps,
  openTestNode,
  removeTestDatabases,
  seed,
  testZone,
} from "../state/test-db.ts";
import type { Viewer } from "../users/access.ts";
import type { SessionProblem } from "../users/session-problem.ts";
import { SessionCheck } from "../users/sessions.ts";
import { SIGNED_OUT } from "../users/signouts.ts";
import {
  acceptLogin,
  checkSession,
  firstThatOpens,
  isSameOriginPath,
  SESSION_COOKIE,
  sessionCookies,
  signOut,
} from "./sessions.ts";

afterAll(removeTestDatabases);

/** Gateway a, whose member laptop makes login links; its clock is the test's to move. */
function gatewayWithLaptop(seedOfA: number) {
  const a = openTestNode(seedOfA);
  const laptop = signingKeyFromSeed(seed(seedOfA + 1));
  appendLocalChangeset(
    a.db,
    { zone: testZone.id, name: "a", key: a.key, seal: a.seal },
    foundingOps({ a: a.key, laptop }),
    1000,
  );
  const clock = { nowMs: Date.parse("2026-11-29T14:00:00.000Z") };
  return { node: testNodeContext(a, "a", { now: () => clock.nowMs }), laptop, clock };
}

describe("isSameOriginPath", () => {
  test("a path on this gateway, with its query and fragment", () => {
    for (const next of ["/", "/apps/notes/", "/_bucky/panel/", "/a?b=1&c=%2F#top", "/.//x"])
      expect([next, isSameOriginPath(next)]).toEqual([next, true]);
  });

  test("never another site, nor what a browser or a header would read otherwise", () => {
    for (const next of [
      "",
      "//evil.example",
      "/\\evil.example",
      "\\/evil.example",
      "/a\\b",
      "/\t/evil.example",
      "/\n/evil.example",
      "/a\r\nSet-Cookie: x=1",
      "/ evil",
      "/é",
      "/€",
      "http://evil.example/",
      "evil.example",
      `/${"a".repeat(2048)}`,
    ])
      expect([next, isSameOriginPath(next)]).toEqual([next, false]);
  });
});

describe("a device's sessions", () => {
  test("two opened in the same second at one gateway are two: signing out one leaves the other", async () => {
    const { node, laptop, clock } = gatewayWithLaptop(90);
    const nowMs = clock.nowMs;
    const people = new SessionCheck(node);
    const cookieOf = (byte: number) => {
      const link = signLoginToken(
        {
          zone: node.zoneId,
          gateway: node.deviceId,
          nonce: new Uint8Array(16).fill(byte),
          expiresAt: nowMs / 1000 + 3600,
        },
        laptop,
      );
      return `${SESSION_COOKIE}=${acceptLogin(node, link.jws).cookie}`;
    };
    const [first, second] = [cookieOf(1), cookieOf(2)];
    expect(first).not.toBe(second);
    const who = async (cookie: string) => {
      const checked = await checkSession(node, cookie, people);
      return "viewer" in checked ? checked.viewer : checked;
    };
    const laptopViewer: Viewer = {
      kind: "device",
      device: deviceIdFromPublicKey(laptop.publicKey),
      deviceName: "laptop",
    };
    expect(await who(first)).toEqual(laptopViewer);
    await signOut(node, first, people);
    expect([await who(first), await who(second)]).toEqual([SIGNED_OUT, laptopViewer]);
    // Behind junk and a signed-out one, the session that stands counts, and signs out.
    expect(await who(`bucky_session=junk; ${first}; ${second}`)).toEqual(laptopViewer);
    await signOut(node, `bucky_session=junk; ${second}`, people);
    expect(await who(second)).toEqual(SIGNED_OUT);
  });
});

describe("a login link used once", () => {
  test("stays used after the gateway's clock ran ahead and was set right", () => {
    const { node, laptop, clock } = gatewayWithLaptop(92);
    const realMs = clock.nowMs;
    const link = (byte: number, ttlS: number) =>
      signLoginToken(
        {
          zone: node.zoneId,
          gateway: node.deviceId,
          nonce: new Uint8Array(16).fill(byte),
          expiresAt: realMs / 1000 + ttlS,
        },
        laptop,
      ).jws;
    const hour = link(1, 3600);
    const week = link(2, 7 * 86_400);
    acceptLogin(node, hour);
    expect(() => acceptLogin(node, hour)).toThrow("already used");
    // Two hours ahead, another link taken: used links expired by that clock were forgotten.
    clock.nowMs = realMs + 2 * 3_600_000;
    acceptLogin(node, week);
    clock.nowMs = realMs + 60_000;
    expect(() => acceptLogin(node, hour)).toThrow("already used");
  });
});

describe("sessionCookies", () => {
  test("every session cookie of a request, in its order, each once, a few at most", () => {
    expect(sessionCookies(null)).toEqual([]);
    expect(sessionCookies("theme=dark")).toEqual([]);
    expect(sessionCookies("bucky_session=a; theme=dark; bucky_session=b; bucky_session=a")).toEqual(
      ["a", "b"],
    );
    expect(sessionCookies("bucky_session=; xbucky_session=c")).toEqual([]);
    const many = Array.from({ length: 10 }, (_, i) => `bucky_session=v${i}`).join("; ");
    expect(sessionCookies(many)).toEqual(["v0", "v1", "v2", "v3"]);
  });
});

describe("several session cookies", () => {
  const person = (user: string) =>
    ({ viewer: { kind: "person", user } }) as unknown as { viewer: Viewer };
  const answers: Record<string, { viewer: Viewer } | { problem: SessionProblem }> = {
    junk: { problem: { code: "invalid", detail: "not a session" } },
    ann: person("ann"),
    annAgain: person("ann"),
    mallory: person("mallory"),
  };
  const opened = (values: string[]) =>
    firstThatOpens(values, (value) => answers[value] as (typeof answers)[string]);

  test("junk beside a session: the session counts, wherever it comes", async () => {
    expect(await opened(["junk", "ann"])).toBe(answers.ann as { viewer: Viewer });
    expect(await opened(["ann", "junk"])).toBe(answers.ann as { viewer: Viewer });
  });

  test("sessions of one person: the first counts", async () => {
    expect(await opened(["annAgain", "ann"])).toBe(answers.annAgain as { viewer: Viewer });
  });

  test("sessions of different people, one set by an app's page before the gateway's: none counts", async () => {
    expect(await opened(["mallory", "ann"])).toEqual({ problem: { code: "several-people" } });
  });
});
