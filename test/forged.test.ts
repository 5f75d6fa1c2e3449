/**
 * Forged or tampered changesets sent to a daemon are rejected, change nothing, and are
 * logged once each; a device caught equivocating is quarantined and shown as such.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import type { BuckyError } from "../lib/errors.ts";
import { signChangeset } from "../protocol/changeset.ts";
import { signingKeyFromSeed } from "../protocol/ed25519.ts";
import { type DeviceId, deviceIdFromPublicKey } from "../protocol/ids.ts";
import { PairKeys } from "../protocol/pair-key.ts";
import {
  macRequest,
  REQUEST_KEY_PURPOSE,
  signRequest,
  UNSIGNED_BODY,
} from "../protocol/request-auth.ts";
import { encodePullRequest } from "../protocol/sync-messages.ts";
import { buckyJson, cleanUp, type Daemon, startZone, waitFor } from "./harness.ts";
import { actAs, type Member, peerOf } from "./member.ts";

afterAll(cleanUp);

let alpha: Daemon;
let beta: Member;

async function fullState(): Promise<unknown> {
  return (await buckyJson<{ entries: unknown[] }>(["state", "list", "--home", alpha.home])).entries;
}

function rejections(): number {
  return alpha
    .log()
    .split("\n")
    .filter((line) => line.includes("rejected changeset")).length;
}

/** Pushes `entries` to alpha as beta; expects each one rejected with `reason`, and nothing changed. */
async function expectRejected(entries: Uint8Array[], reason: string): Promise<void> {
  const before = await fullState();
  const logged = rejections();
  const ack = await beta.push(alpha, entries);
  expect([ack.applied, ack.rejected]).toEqual([0, entries.length]);
  expect(await fullState()).toEqual(before);
  await waitFor("the warning", () => (rejections() === logged + entries.length ? true : undefined));
  expect(alpha.log()).toContain(reason);
}

beforeAll(async () => {
  const zone = await startZone(["alpha", "beta"]);
  alpha = zone.get("alpha") as Daemon;
  const betaDaemon = zone.get("beta") as Daemon;
  await waitFor("alpha to know beta", async () => {
    const { devices } = await buckyJson<{ devices: { name: string; status: string }[] }>([
      "devices",
      "--home",
      alpha.home,
    ]);
    return devices.find((d) => d.name === "beta")?.status === "online" ? true : undefined;
  });
  // From here on the test speaks for beta, so its own daemon must not write beside it.
  await betaDaemon.stop();
  beta = await actAs(betaDaemon.home);
});

describe("requests tagged with the key two devices share (request-auth v2)", () => {
  const alphaTarget = async () => ({ ...(await peerOf(alpha)), requestAuth: 2 });
  /** Sends a pull to alpha with `headers` as its authentication, raw. */
  const pullWith = async (headers: Record<string, string>, path = "/v1/sync/pull") => {
    const response = await fetch(`${alpha.addresses[0]}${path}`, {
      method: "POST",
      headers,
      body: encodePullRequest({ have: new Map() }),
      tls: { rejectUnauthorized: false },
    });
    if (response.ok) return { status: response.status };
    return {
      status: response.status,
      message: ((await response.json()) as { error: { message: string } }).error.message,
    };
  };
  const tagged = (keys: PairKeys, claimed: DeviceId, audience: DeviceId, path = "/v1/sync/pull") =>
    macRequest(
      { method: "POST", path, audience, body: encodePullRequest({ have: new Map() }) },
      claimed,
      keys.key(keys.self, audience, REQUEST_KEY_PURPOSE),
      Date.now(),
    );

  test("a member's is accepted, as its signed requests are", async () => {
    const ack = await beta.push(alpha, [], "v2");
    expect([ack.applied, ack.rejected]).toEqual([0, 0]);
  });

  test("a stranger's, made with the key it shares with the daemon but naming a member, is refused", async () => {
    const seed = new Uint8Array(32).fill(77);
    const stranger = new PairKeys(seed, deviceIdFromPublicKey(signingKeyFromSeed(seed).publicKey));
    const { id } = await alphaTarget();
    expect(await pullWith(tagged(stranger, beta.id, id))).toEqual({
      status: 403,
      message: "request refused: bad request authentication",
    });
    // Under its own name, it is a stranger.
    expect(await pullWith(tagged(stranger, stranger.self, id))).toEqual({
      status: 403,
      message: "this device does not know you as a member of the zone (yet)",
    });
  });

  test("a member's, sent for another path or made for another device, is refused", async () => {
    const { id } = await alphaTarget();
    const keys = beta.pairKeys;
    expect(await pullWith(tagged(keys, beta.id, id, "/v1/sync/pull?x"))).toEqual({
      status: 403,
      message: "request refused: bad request authentication",
    });
    const other = deviceIdFromPublicKey(signingKeyFromSeed(new Uint8Array(32).fill(78)).publicKey);
    expect(await pullWith(tagged(keys, beta.id, other))).toEqual({
      status: 403,
      message: "request refused: bad request authentication",
    });
    // The control: the same request, made for alpha, is accepted.
    expect((await pullWith(tagged(keys, beta.id, id))).status).toBe(200);
  });
});

describe("a daemon refuses requests that are not a member's", () => {
  test("an unsigned request", async () => {
    const response = await fetch(`${alpha.addresses[0]}/v1/sync/pull`, {
      method: "POST",
      body: new Uint8Array([0xa0]),
      tls: { rejectUnauthorized: false },
    });
    expect(response.status).toBe(403);
    expect(((await response.json()) as { error: { message: string } }).error.message).toBe(
      "request refused: missing or malformed bucky-device header",
    );
  });

  test("a client refuses a server that does not hold the device key it expects", async () => {
    // Another daemon answers where alpha is expected: alpha's pinned certificate is not its.
    const impostor = (await startZone(["impostor"])).get("impostor") as Daemon;
    const misdirected = { ...(await peerOf(alpha)), addresses: impostor.addresses };
    const error = await beta
      .post(misdirected, "/v1/sync/pull", new Uint8Array())
      .catch((e: unknown) => e);
    expect((error as BuckyError).code).toBe("E_UNAVAILABLE");
    expect((error as BuckyError).message).toContain("did not present its own certificate");
  });
});

/** A GET to alpha's ingress for `path` with `headers` as its authentication, raw. */
async function ingressWith(headers: Record<string, string>, path: string) {
  const response = await fetch(`${alpha.addresses[0]}${path}`, {
    headers,
    tls: { rejectUnauthorized: false },
  });
  return {
    status: response.status,
    message: ((await response.json()) as { error: { message: string } }).error.message,
  };
}

/** Beta's tag for a GET of `path`, made for `audience` at `timeMs` (alpha, now: right). */
async function betaTag(path: string, options: { audience?: DeviceId; timeMs?: number } = {}) {
  const audience = options.audience ?? (await peerOf(alpha)).id;
  const keys = beta.pairKeys;
  return macRequest(
    { method: "GET", path, audience, body: UNSIGNED_BODY },
    beta.id,
    keys.key(keys.self, audience, REQUEST_KEY_PURPOSE),
    options.timeMs ?? Date.now(),
  );
}

/**
 * A tag for a GET of `path` to alpha made with the key of a stranger (the device of seed
 * `seedByte`), naming `as` as its maker (the stranger itself by default).
 */
async function strangerTag(seedByte: number, path: string, as?: DeviceId) {
  const seed = new Uint8Array(32).fill(seedByte);
  const stranger = new PairKeys(seed, deviceIdFromPublicKey(signingKeyFromSeed(seed).publicKey));
  const { id } = await peerOf(alpha);
  return macRequest(
    { method: "GET", path, audience: id, body: UNSIGNED_BODY },
    as ?? stranger.self,
    stranger.key(stranger.self, id, REQUEST_KEY_PURPOSE),
    Date.now(),
  );
}

describe("the apps' ingress, served ahead of the router, refuses what is not a member's", () => {
  const refused = (reason: string) => ({ status: 403, message: `request refused: ${reason}` });
  const path = "/v1/ingress/notes/a?b=1";

  test("the control: beta's request is let through, to find no app running", async () => {
    expect(await ingressWith(await betaTag(path), path)).toEqual({
      status: 503,
      message: "notes is not running on alpha",
    });
  });

  test("an unauthenticated request", async () => {
    expect(await ingressWith({}, path)).toEqual(
      refused("missing or malformed bucky-device header"),
    );
  });

  test("a forged tag or signature naming a member", async () => {
    const forged = await strangerTag(79, path, beta.id);
    expect(await ingressWith(forged, path)).toEqual(refused("bad request authentication"));
    const signed = signRequest(
      { method: "GET", path, audience: (await peerOf(alpha)).id, body: UNSIGNED_BODY },
      signingKeyFromSeed(new Uint8Array(32).fill(79)),
      Date.now(),
    );
    expect(await ingressWith({ ...signed, "bucky-device": beta.id }, path)).toEqual(
      refused("bad request signature"),
    );
  });

  test("a stale one", async () => {
    // A member's, authentic: said as its clock being behind (a replay can only be), which
    // names no device ahead to the zone.
    const stale = await betaTag(path, { timeMs: Date.now() - 10 * 60_000 });
    expect(await ingressWith(stale, path)).toEqual({
      status: 403,
      message: expect.stringMatching(/^request refused: your clock is 60\d s behind alpha's$/),
    });
    // A day off: refused before its tag is checked, saying nothing of clocks.
    const older = await betaTag(path, { timeMs: Date.now() - 25 * 3_600_000 });
    expect(await ingressWith(older, path)).toEqual(
      refused("the request's time is too far from this device's clock"),
    );
  });

  test("one made for another device, another path or another query", async () => {
    const other = deviceIdFromPublicKey(signingKeyFromSeed(new Uint8Array(32).fill(80)).publicKey);
    expect(await ingressWith(await betaTag(path, { audience: other }), path)).toEqual(
      refused("bad request authentication"),
    );
    const tag = await betaTag(path);
    for (const sent of [
      "/v1/ingress/notes/b?b=1",
      "/v1/ingress/notes/a?b=2",
      "/v1/ingress/other/a?b=1",
    ])
      expect(await ingressWith(tag, sent)).toEqual(refused("bad request authentication"));
  });

  test("a stranger's, under its own name", async () => {
    expect(await ingressWith(await strangerTag(81, path), path)).toEqual({
      status: 403,
      message: "this device does not know you as a member of the zone (yet)",
    });
  });
});

describe("a daemon refuses forged changesets", () => {
  test("a valid one is applied (the control)", async () => {
    const changeset = beta.changeset([{ key: "apps/ok", value: "1" }]);
    const ack = await beta.push(alpha, [changeset.bytes]);
    expect([ack.applied, ack.rejected]).toEqual([1, 0]);
    beta.accepted(changeset);
    await waitFor(
      "apps/ok",
      async () =>
        ((await fullState()) as { key: string }[]).some((e) => e.key === "apps/ok") || undefined,
    );
  });

  test("a bad signature", async () => {
    const bytes = Uint8Array.from(beta.changeset([{ key: "apps/x", value: "1" }]).bytes);
    bytes[bytes.length - 1] = (bytes[bytes.length - 1] as number) ^ 1;
    await expectRejected([bytes], "bad signature");
  });

  test("an author that is not a member", async () => {
    const stranger = signingKeyFromSeed(new Uint8Array(32).fill(99));
    const forged = signChangeset(
      {
        zone: beta.zone,
        author: deviceIdFromPublicKey(stranger.publicKey),
        seq: 1,
        prev: null,
        hlc: { ms: Date.now(), counter: 0 },
        ops: [{ key: "apps/x", value: "1" }],
      },
      stranger,
    );
    await expectRejected([forged.bytes], "its author is not a member of the zone");
  });

  test("a broken hash chain", async () => {
    await expectRejected(
      [beta.changeset([{ key: "apps/x", value: "1" }], { prev: new Uint8Array(32).fill(7) }).bytes],
      "broken chain",
    );
  });

  test("a key its author may not write", async () => {
    await expectRejected(
      [beta.changeset([{ key: "devices/alpha/info", value: "{}" }]).bytes],
      "devices/alpha/info belongs to device alpha",
    );
  });

  test("a membership key without the owner's signature", async () => {
    await expectRejected(
      [beta.changeset([{ key: "devices/mallory/doc", value: '"not a jws"' }]).bytes],
      "must hold a device document signed by the zone owner",
    );
  });

  test("a clock too far in the future", async () => {
    await expectRejected(
      [
        beta.changeset([{ key: "apps/x", value: "1" }], {
          hlc: { ms: Date.now() + 3_600_000, counter: 0 },
        }).bytes,
      ],
      "its clock is too far ahead",
    );
  });

  test("malformed CBOR", async () => {
    await expectRejected([new Uint8Array([0x82, 0x41])], "malformed");
  });

  test("an oversize message is refused whole", async () => {
    const before = await fullState();
    const huge = new Uint8Array(17 * 1024 * 1024);
    const error = await beta.post(alpha, "/v1/sync/push", huge).catch((e: unknown) => e);
    expect([(error as BuckyError).code, (error as BuckyError).message]).toEqual([
      "E_TOO_LARGE",
      'alpha refused: "a request\'s body is over 16777216 bytes, the most this takes", and says "Nothing was kept. Send less: the bound is the same whatever the request says of its size."',
    ]);
    expect(await fullState()).toEqual(before);
    await waitFor("the warning", () =>
      alpha.log().includes("WARN  request refused") ? true : undefined,
    );
  });

  test("equivocation quarantines the device, visibly, drops nothing, and refuses it from then on", async () => {
    const first = beta.changeset([{ key: "apps/eq", value: '"first"' }]);
    const second = beta.changeset([{ key: "apps/eq", value: '"second"' }]);
    expect((await beta.push(alpha, [first.bytes])).applied).toBe(1);
    beta.accepted(first);
    const ack = await beta.push(alpha, [second.bytes]);
    expect(ack.applied).toBe(0);
    const { devices } = await buckyJson<{
      devices: { name: string; status: string; quarantinedFrom: number | null }[];
    }>(["devices", "--home", alpha.home]);
    expect(devices.map((d) => [d.name, d.status, d.quarantinedFrom])).toEqual([
      ["alpha", "online", null],
      ["beta", "quarantined", first.seq],
    ]);
    // A quarantine refuses, it drops nothing: the first of the two is kept where it was
    // taken (a drop would let a stolen device erase its own history on every device).
    const entry = await buckyJson<{ value: string }>([
      "state",
      "get",
      "apps/eq",
      "--home",
      alpha.home,
    ]);
    expect(entry.value).toBe("first");
    const refused = await beta
      .push(alpha, [beta.changeset([{ key: "apps/after", value: "1" }]).bytes])
      .catch((e: unknown) => e);
    expect((refused as BuckyError).code).toBe("E_PERMISSION");
    expect((refused as BuckyError).message).toContain("you are quarantined");
    // Its key still makes good tags: they are refused all the same.
    const tagged = await beta
      .push(alpha, [beta.changeset([{ key: "apps/after", value: "1" }]).bytes], "v2")
      .catch((e: unknown) => e);
    expect((tagged as BuckyError).message).toContain("you are quarantined");
    // And at the apps' ingress, which is served ahead of the router.
    const path = "/v1/ingress/notes/";
    expect(await ingressWith(await betaTag(path), path)).toEqual({
      status: 403,
      message: "you are quarantined in this zone",
    });
  });
});
