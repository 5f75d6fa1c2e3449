import { describe, expect, test } from "bun:test";
import type { UserName } from "../../protocol/accounts.ts";
import { signingKeyFromSeed } from "../../protocol/ed25519.ts";
import { deviceIdFromPublicKey, zoneIdFromPublicKey } from "../../protocol/ids.ts";
import { verifyAppUser } from "../../protocol/user-session.ts";
import type { NodeContext } from "../node/node-context.ts";
import { seed } from "../state/test-db.ts";
import type { Membership } from "../sync/membership.ts";
import type { Viewer } from "../users/access.ts";
import type { SessionCheck } from "../users/sessions.ts";
import { APP_USER_HEADER, AppUserAssertions, IngressViewers } from "./app-user.ts";

const zone = zoneIdFromPublicKey(signingKeyFromSeed(seed(1)).publicKey);
const gatewayKey = signingKeyFromSeed(seed(2));
const device = deviceIdFromPublicKey(signingKeyFromSeed(seed(3)).publicKey);
const T0_MS = 1_800_000_000_000;

/** A gateway whose clock is moved by hand; `aheadMs` is how far the device's is ahead. */
function gateway(aheadMs: number) {
  const gw = {
    nowMs: T0_MS,
    node: {} as NodeContext,
    assertions: {} as AppUserAssertions,
  };
  gw.node = {
    now: () => gw.nowMs,
    deviceId: deviceIdFromPublicKey(gatewayKey.publicKey),
    zoneId: zone,
    zone: { deviceKey: gatewayKey },
    contacts: { clockOffsetMs: (id: string) => (id === device ? aheadMs : undefined) },
  } as unknown as NodeContext;
  gw.assertions = new AppUserAssertions(gw.node);
  return gw;
}

const viewer = (user: string): Viewer => ({
  kind: "person",
  user: user as UserName,
  role: "member",
  session: {
    claims: {
      zone,
      user: user as UserName,
      gateway: deviceIdFromPublicKey(gatewayKey.publicKey),
      nonce: "AAAAAAAAAAAAAAAAAAAAAA",
      issuedAt: T0_MS / 1000 - 10,
      expiresAt: T0_MS / 1000 + 3600,
    },
    proof: { k: "password", cred: "AA", sig: "AA" },
  },
});

const assertionOf = (gw: ReturnType<typeof gateway>, person: Viewer) =>
  gw.assertions.headers("notes", device, person)[APP_USER_HEADER] as string;

describe("AppUserAssertions", () => {
  test("the same assertion is sent again while it has most of its life left", () => {
    const gw = gateway(0);
    const person = viewer("ann");
    const first = assertionOf(gw, person);
    gw.nowMs += 25_000;
    expect(assertionOf(gw, person)).toBe(first);
    gw.nowMs += 10_000;
    expect(assertionOf(gw, person)).not.toBe(first);
  });

  test("one sent again still stands at a device whose clock is ahead, as a fresh one did", () => {
    // The device's clock is 45 s ahead: a fresh assertion (a minute) has 15 s left there.
    const aheadMs = 45_000;
    const gw = gateway(aheadMs);
    const person = viewer("bob");
    for (let i = 0; i < 8; i++) {
      const assertion = assertionOf(gw, person);
      const deviceNowS = Math.floor((gw.nowMs + aheadMs) / 1000);
      expect(() => verifyAppUser(assertion, zone, device, "notes", deviceNowS)).not.toThrow();
      gw.nowMs += 5_000;
    }
  });
});

describe("IngressViewers", () => {
  /** The device's ingress, its state changes fired by hand, counting the sessions it checks. */
  function ingress() {
    const gatewayId = deviceIdFromPublicKey(gatewayKey.publicKey);
    const membership = {
      byId: new Map([[gatewayId, { id: gatewayId, quarantined: false }]]),
      byName: new Map(),
    } as unknown as Membership;
    const changed: (() => void)[] = [];
    const node = {
      now: () => T0_MS,
      deviceId: device,
      zoneId: zone,
      membership: () => membership,
      onChange: (listener: () => void) => {
        changed.push(listener);
        return () => {};
      },
      onRebase: () => () => {},
    } as unknown as NodeContext;
    const checks: string[] = [];
    const people = {
      viewer: async (session: { claims: { user: string } }) => {
        checks.push(session.claims.user);
        return { viewer: viewer(session.claims.user) };
      },
    } as unknown as SessionCheck;
    return {
      viewers: new IngressViewers(node, people),
      checks,
      changeState: () => {
        for (const listener of changed) listener();
      },
    };
  }
  const headersFor = (person: Viewer) =>
    new Headers(gateway(0).assertions.headers("notes", device, person));

  test("an assertion that stood for its app is refused for another, remembered or not", async () => {
    const { viewers } = ingress();
    const headers = headersFor(viewer("ann"));
    expect((await viewers.viewer("notes", headers))?.kind).toBe("person");
    await expect(viewers.viewer("photos", headers)).rejects.toMatchObject({
      code: "E_PERMISSION",
      message: expect.stringContaining("another app"),
    });
  });

  test("one that stood is not checked again until the state changes", async () => {
    const { viewers, checks, changeState } = ingress();
    const headers = headersFor(viewer("bob"));
    await viewers.viewer("notes", headers);
    await viewers.viewer("notes", headers);
    expect(checks).toEqual(["bob"]);
    changeState();
    await viewers.viewer("notes", headers);
    expect(checks).toEqual(["bob", "bob"]);
  });

  test("a request with no assertion has no person behind it", async () => {
    expect(await ingress().viewers.viewer("notes", new Headers())).toBeUndefined();
  });
});
