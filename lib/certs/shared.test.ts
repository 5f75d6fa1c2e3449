import { describe, expect, test } from "bun:test";
import type { SigningKey } from "../../protocol/ed25519.ts";
import { signingKeyFromSeed } from "../../protocol/ed25519.ts";
import { signGatewayApproval } from "../../protocol/gateway-approval.ts";
import { deviceIdFromPublicKey } from "../../protocol/ids.ts";
import type { DeviceName } from "../../protocol/names.ts";
import { approvalKey } from "../gateway/approval.ts";
import type { NodeContext } from "../node/node-context.ts";
import { appendLocalChangeset } from "../state/feed.ts";
import { foundingOps, openTestNode, seed, testOwner, testZone } from "../state/test-db.ts";
import { loadMembership } from "../sync/membership.ts";
import { fellowGateways, sharedCertificate, shareWrite } from "./shared.ts";
import { selfSignedCertificate } from "./test-certificate.ts";

const HOST = "home.example.com";

/**
 * The zone as gateway d90 sees it: d91 and d92 are gateways for the same host, d93 a
 * member that says it is one; the owner approved d91 and d92 for the host, not d93.
 */
function zone() {
  const test = openTestNode(90);
  const keys: Record<string, SigningKey> = {};
  for (const n of [90, 91, 92, 93]) keys[`d${n}`] = signingKeyFromSeed(seed(n));
  const gateway = JSON.stringify({
    listen: "127.0.0.1:1443",
    host: HOST,
    https: true,
    tls: "acme",
  });
  const writeAs = (name: string, ops: { key: string; value: string | null }[], atMs = 2000) =>
    appendLocalChangeset(
      test.db,
      { zone: testZone.id, name, key: keys[name] as SigningKey, seal: test.seal },
      ops,
      atMs,
    );
  writeAs("d90", foundingOps(keys), 1000);
  for (const name of Object.keys(keys))
    writeAs(name, [{ key: `nodes/${name}/gateway`, value: gateway }]);
  writeAs(
    "d90",
    ["d90", "d91", "d92"].map((name) => ({
      key: approvalKey("d90", name),
      value: JSON.stringify(
        signGatewayApproval(
          {
            zone: test.zone,
            device: deviceIdFromPublicKey((keys[name] as SigningKey).publicKey),
            name: name as DeviceName,
            hosts: [HOST],
            addresses: [],
            issuedAtMs: 1000,
          },
          testOwner,
        ).jws,
      ),
    })),
  );
  const as = (name: string) =>
    ({
      db: test.db,
      zoneId: test.zone,
      deviceName: name,
      deviceId: deviceIdFromPublicKey((keys[name] as SigningKey).publicKey),
      now: () => Date.now(),
      membership: () => loadMembership(test.db, test.zone),
    }) as unknown as NodeContext;
  /** A share, written as the device that shares it. */
  const write = (shares: ({ key: string; value: string | null } | undefined)[]) => {
    for (const share of shares) {
      if (!share) throw new Error("nothing to share");
      writeAs(share.key.split("/")[1] as string, [share], 3000);
    }
  };
  return { as, write };
}

describe("certificates shared between gateways", () => {
  test("are sealed to the approved fellows alone, and opened by each of them only", () => {
    const { as, write } = zone();
    const config = { listen: "127.0.0.1:1443", host: HOST, https: true, tls: "acme" as const };
    const fellows = fellowGateways(as("d91"), config, `site.${HOST}`);
    // d90 and d92, not d93 (unapproved) nor d91 itself.
    expect(fellows).toEqual([as("d90").deviceId, as("d92").deviceId].sort());
    const { cert, key } = selfSignedCertificate(`site.${HOST}`, 30);
    const share = shareWrite(as("d91"), `site.${HOST}`, cert, key, fellows);
    expect(share?.key).toBe(`nodes/d91/certs/site.${HOST}`);
    expect(share?.value).not.toContain("PRIVATE KEY");
    write([share]);
    // Shared already with exactly them: nothing to write again.
    expect(shareWrite(as("d91"), `site.${HOST}`, cert, key, fellows)).toBeUndefined();
    expect(sharedCertificate(as("d90"), `site.${HOST}`, () => seed(90))).toMatchObject({
      from: "d91",
      cert,
      key,
    });
    // A device it was not sealed to (or the wrong key) opens nothing.
    expect(sharedCertificate(as("d93"), `site.${HOST}`, () => seed(93))).toBeUndefined();
    expect(sharedCertificate(as("d90"), `site.${HOST}`, () => seed(93))).toBeUndefined();
  });

  test("are taken only from an approved member, for the name they name, with their key, the newest", () => {
    const { as, write } = zone();
    const me = [as("d90").deviceId];
    const name = `notes.${HOST}`;
    const older = selfSignedCertificate(name, 10);
    const newer = selfSignedCertificate(name, 40);
    const newest = selfSignedCertificate(name, 80);
    const other = selfSignedCertificate(`bank.example.com`, 90);
    const stray = selfSignedCertificate(name, 90);
    write([
      shareWrite(as("d91"), name, older.cert, older.key, me) as { key: string; value: string },
      shareWrite(as("d92"), name, newer.cert, newer.key, me) as { key: string; value: string },
      // d93 is not approved for the host: its newest certificate is not taken.
      shareWrite(as("d93"), name, newest.cert, newest.key, me) as { key: string; value: string },
    ]);
    expect(sharedCertificate(as("d90"), name, () => seed(90))?.cert).toBe(newer.cert);
    // A certificate for another name, or with a key that is not its own, is not taken.
    write([
      shareWrite(as("d91"), name, other.cert, other.key, me) as { key: string; value: string },
      shareWrite(as("d92"), name, stray.cert, newest.key, me) as { key: string; value: string },
    ]);
    expect(sharedCertificate(as("d90"), name, () => seed(90))).toBeUndefined();
  });
});
