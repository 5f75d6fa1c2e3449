import { describe, expect, test } from "bun:test";
import { signingKeyFromSeed } from "../../protocol/ed25519.ts";
import { toHex } from "../../protocol/encoding.ts";
import { type DeviceId, deviceIdFromPublicKey } from "../../protocol/ids.ts";
import { PairKeys } from "../../protocol/pair-key.ts";
import { RequestKeys } from "./request-keys.ts";

const seed = (n: number) => new Uint8Array(32).fill(n);
const idOf = (n: number) => deviceIdFromPublicKey(signingKeyFromSeed(seed(n)).publicKey);

/** PairKeys that count the keys they make. */
class CountingPairKeys extends PairKeys {
  made = 0;
  override key(from: DeviceId, to: DeviceId, purpose: string): Uint8Array {
    this.made++;
    return super.key(from, to, purpose);
  }
}

describe("RequestKeys", () => {
  test("what one device sends with, the other checks with; not the other way round", () => {
    const a = new RequestKeys(new PairKeys(seed(1), idOf(1)));
    const b = new RequestKeys(new PairKeys(seed(2), idOf(2)));
    expect(toHex(a.to(idOf(2)))).toBe(toHex(b.from(idOf(1), true)));
    expect(toHex(a.to(idOf(2)))).not.toBe(toHex(b.to(idOf(1))));
  });

  test("keeps a member's key, makes a stranger's afresh each time", () => {
    const pair = new CountingPairKeys(seed(1), idOf(1));
    const keys = new RequestKeys(pair);
    keys.from(idOf(2), true);
    keys.from(idOf(2), true);
    keys.to(idOf(2));
    keys.to(idOf(2));
    expect(pair.made).toBe(2);
    keys.from(idOf(3), false);
    keys.from(idOf(3), false);
    expect(pair.made).toBe(4);
  });
});
