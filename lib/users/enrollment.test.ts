import { afterAll, describe, expect, test } from "bun:test";
import {
  type Credential,
  signAccount,
  signEnrollment,
  type UserName,
  userKeys,
} from "../../protocol/accounts.ts";
import { signingKeyFromSeed } from "../../protocol/ed25519.ts";
import { toBase64url } from "../../protocol/encoding.ts";
import { deviceIdFromPublicKey } from "../../protocol/ids.ts";
import { BuckyError } from "../errors.ts";
import { testNodeContext } from "../node/test-node-context.ts";
import { appendLocalChangeset } from "../state/feed.ts";
import {
  foundingOps,
  infoOp,
  openTestNode,
  removeTestDatabases,
  seed,
  testOwner,
} from "../state/test-db.ts";
import { stateValue } from "../store/reads.ts";
import { Enrollments } from "./enrollment.ts";

afterAll(removeTestDatabases);

const NOW_MS = Date.parse("2026-12-01T04:00:00.000Z");
const bKey = signingKeyFromSeed(seed(91));
const b = deviceIdFromPublicKey(bKey.publicKey);
const ann = "ann" as UserName;

/** Gateway a, with gateway b and a third device c in its zone, and ann's account. */
function zone() {
  const a = openTestNode(90);
  const cKey = signingKeyFromSeed(seed(92));
  let clock = NOW_MS - 60_000;
  const tick = () => {
    clock += 1000;
    return clock;
  };
  const write = (by: "a" | "b", key: string, value: unknown) =>
    appendLocalChangeset(
      a.db,
      { zone: a.zone, name: by, key: by === "a" ? a.key : bKey, seal: a.seal },
      [{ key, value: JSON.stringify(value) }],
      tick(),
    );
  appendLocalChangeset(
    a.db,
    { zone: a.zone, name: "a", key: a.key, seal: a.seal },
    [
      ...foundingOps({ a: a.key, b: bKey, c: cKey }),
      {
        key: userKeys.account(ann, 1),
        value: JSON.stringify(
          signAccount(
            { zone: a.zone, user: ann, rev: 1, role: "member", creds: 1, issuedAt: 1 },
            testOwner,
          ),
        ),
      },
    ],
    tick(),
  );
  // Each says it reads this bucky's writes: a credential under a gateway's id is then taken.
  for (const [name, key] of [
    ["a", a.key],
    ["b", bKey],
    ["c", cKey],
  ] as const)
    appendLocalChangeset(a.db, { zone: a.zone, name, key, seal: a.seal }, [infoOp(name)], tick());
  const node = testNodeContext(a, "a", { now: () => NOW_MS });
  const link = (gateways: string[]) =>
    signEnrollment(
      {
        zone: a.zone,
        user: ann,
        creds: 1,
        gateway: gateways[0] as typeof b,
        gateways: gateways as (typeof b)[],
        nonce: new Uint8Array(16).fill(gateways.length),
        expiresAt: Math.floor(NOW_MS / 1000) + 3600,
      },
      testOwner,
    );
  const password = (jws: string): Credential => ({
    v: 1,
    kind: "password",
    enrollment: jws,
    salt: toBase64url(new Uint8Array(16).fill(1)),
    publicKey: toBase64url(cKey.publicKey),
    memoryKiB: 1024,
    passes: 1,
    parallelism: 1,
    createdAt: "2026-12-01T04:00:00.000Z",
  });
  /** c says, in its info, that it reads write rules of `level` (0: an older bucky's). */
  const cReads = (level: number) =>
    appendLocalChangeset(
      a.db,
      { zone: a.zone, name: "c", key: cKey, seal: a.seal },
      [
        {
          key: "devices/c/info",
          value: JSON.stringify({ ...JSON.parse(infoOp("c").value), writeRules: level }),
        },
      ],
      tick(),
    );
  return { node, write, link, password, cReads, c: deviceIdFromPublicKey(cKey.publicKey) };
}

const refusal = async (work: () => unknown): Promise<string> => {
  try {
    await work();
  } catch (error) {
    if (error instanceof BuckyError) return error.message;
    throw error;
  }
  return "taken";
};

describe("an enrollment link for several gateways", () => {
  test("is taken at any gateway it names, at no other", () => {
    const { node, link, c } = zone();
    const enrollments = new Enrollments(node);
    const both = link([b, node.deviceId]);
    expect(enrollments.open(both.jws).enrollment.nonce).toBe(both.nonce);
    const elsewhere = link([b, c]);
    expect(() => enrollments.open(elsewhere.jws)).toThrow("another gateway of the zone (b)");
  });

  test("taken at another gateway first, it is refused here, before and while it is set up", async () => {
    const { node, write, link, password } = zone();
    const enrollments = new Enrollments(node);
    const first = link([node.deviceId, b]);
    write("b", userKeys.credentialAt(ann, first.nonce, b), password(first.jws));
    expect(await refusal(() => enrollments.open(first.jws))).toContain("already used");

    // b's record arrives while this gateway hashes the password: it records nothing (a
    // second record would leave ann no way in at all).
    const second = signEnrollment(
      {
        zone: node.zoneId,
        user: ann,
        creds: 1,
        gateway: node.deviceId,
        gateways: [node.deviceId, b],
        nonce: new Uint8Array(16).fill(9),
        expiresAt: Math.floor(NOW_MS / 1000) + 3600,
      },
      testOwner,
    );
    const made = await refusal(() =>
      enrollments.complete(second.jws, async (enrollment) => {
        write("b", userKeys.credentialAt(ann, enrollment.nonce, b), password(second.jws));
        return { credential: password(second.jws), result: "made" };
      }),
    );
    expect(made).toContain("already used");
    const mine = userKeys.credentialAt(ann, second.nonce, node.deviceId);
    expect(stateValue(node.db, mine)).toBeUndefined();
  });

  test("while a member runs an older bucky, it is refused before anything is made, and not spent", async () => {
    const { node, link, password, cReads } = zone();
    const enrollments = new Enrollments(node);
    const several = link([node.deviceId, b]);
    const make = async () => ({ credential: password(several.jws), result: "made" });
    cReads(0);
    expect(await refusal(() => enrollments.open(several.jws))).toContain(
      "a device of the zone runs an older bucky",
    );
    expect(await refusal(() => enrollments.complete(several.jws, make))).toContain("older bucky");
    // The member said so only while the password was being made: the write is refused, and
    // the link is still good once every member reads it.
    cReads(1);
    const meanwhile = await refusal(() =>
      enrollments.complete(several.jws, async () => {
        cReads(0);
        return make();
      }),
    );
    expect(meanwhile).toContain("refuses");
    cReads(1);
    expect(await enrollments.complete(several.jws, make)).toBe("made");
  });
});
