/** A device takes only the owner's revocation of itself for its own: a peer's word is checked. */
import { describe, expect, test } from "bun:test";
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { signRevocation } from "../../protocol/documents.ts";
import { signingKeyFromSeed } from "../../protocol/ed25519.ts";
import { deviceIdFromPublicKey, zoneIdFromPublicKey } from "../../protocol/ids.ts";
import type { DeviceName } from "../../protocol/names.ts";
import { seed, testOwner } from "../state/test-db.ts";
import {
  checkedRevocation,
  keepRevocation,
  revokedFile,
  revokedHereError,
  revokedRefusal,
} from "./revoked-here.ts";

const zone = zoneIdFromPublicKey(testOwner.publicKey);
const self = deviceIdFromPublicKey(signingKeyFromSeed(seed(20)).publicKey);
const other = deviceIdFromPublicKey(signingKeyFromSeed(seed(21)).publicKey);
const revoke = (id: typeof self, owner = testOwner) =>
  signRevocation({ id, name: "tablet" as DeviceName, lastSeq: 7, issuedAt: 1_800_000_000 }, owner);

describe("a device told it is revoked", () => {
  test("keeps the owner's revocation of itself, once, and stops with what to do", () => {
    const home = mkdtempSync(join(tmpdir(), "bucky-revoked-"));
    const revocation = revoke(self);
    expect(checkedRevocation(revocation.jws, zone, self)?.lastSeq).toBe(7);
    // Over a file that does not check out (damaged), and once.
    writeFileSync(revokedFile(home), "damaged\n");
    keepRevocation(home, revocation);
    keepRevocation(home, revocation);
    expect(readFileSync(revokedFile(home), "utf8")).toBe(`${revocation.jws}\n`);
    const error = revokedHereError(revocation);
    expect(error).toMatchObject({ code: "E_REVOKED", exitCode: 5 });
    expect(error.message).toContain(
      "this device, tablet, was revoked by the zone's owner (2027-01-15T08:00:00.000Z)",
    );
    expect(error.hint).toContain("bucky join");
  });

  test("takes nothing else: another device's revocation, another owner's, no revocation at all", () => {
    const stranger = signingKeyFromSeed(seed(30));
    for (const jws of [
      revoke(other).jws,
      revoke(self, stranger).jws,
      `${revoke(self).jws.slice(0, -4)}AAAA`,
      "not a revocation",
      42,
      undefined,
    ])
      expect(checkedRevocation(jws, zone, self)).toBeUndefined();
  });

  test("a peer's refusal carries it, beside its words", () => {
    const revocation = revoke(self);
    expect(revokedRefusal(revocation).toJSON()).toEqual({
      revocation: revocation.jws,
      code: "E_REVOKED",
      message: "you are revoked in this zone",
    });
  });
});
