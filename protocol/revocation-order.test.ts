import { describe, expect, test } from "bun:test";
import { type CheckpointRow, rowWins } from "./checkpoint.ts";
import { signRevocation } from "./documents.ts";
import { signingKeyFromSeed } from "./ed25519.ts";
import { deviceIdFromPublicKey } from "./ids.ts";
import type { DeviceName } from "./names.ts";
import { revocationPrecedence } from "./revocation-order.ts";

const owner = signingKeyFromSeed(new Uint8Array(32).fill(1));
const first = deviceIdFromPublicKey(signingKeyFromSeed(new Uint8Array(32).fill(3)).publicKey);
const second = deviceIdFromPublicKey(signingKeyFromSeed(new Uint8Array(32).fill(4)).publicKey);
const KEY = "devices/s/revoked";

function revocation(id: typeof first, lastSeq: number, issuedAt: number): string {
  const { jws } = signRevocation({ id, name: "s" as DeviceName, lastSeq, issuedAt }, owner);
  return JSON.stringify(jws);
}

/** A write of `value` at clock `ms` by `author`. */
function row(value: string, ms: number, author = "a"): CheckpointRow {
  return [KEY, value, ms, 0, author, 1];
}

/** The row kept after writing `rows` in this order, one over the other by rowWins. */
function kept(rows: readonly CheckpointRow[]): CheckpointRow | undefined {
  let held: CheckpointRow | undefined;
  for (const next of rows) if (!held || rowWins(next, held)) held = next;
  return held;
}

function permutations<T>(items: readonly T[]): T[][] {
  if (items.length <= 1) return [[...items]];
  return items.flatMap((item, i) =>
    permutations([...items.slice(0, i), ...items.slice(i + 1)]).map((rest) => [item, ...rest]),
  );
}

describe("revocations of one device name", () => {
  test("of one device, the one keeping less wins, whatever the clocks and the order", () => {
    const rows = [
      row(revocation(first, 9, 4), 100),
      row(revocation(first, 4, 6), 50),
      // The first written again by a member, later by its clock.
      row(revocation(first, 9, 4), 900, "z"),
    ];
    for (const order of permutations(rows)) expect(kept(order)?.[1]).toBe(revocation(first, 4, 6));
  });

  test("of one device and one cut, the earlier signed wins", () => {
    expect(revocationPrecedence(revocation(first, 4, 3), revocation(first, 4, 5))).toBeGreaterThan(
      0,
    );
  });

  test("of a device given the name since, the later signed wins: an old one written again takes nothing away", () => {
    const rows = [row(revocation(second, 20, 10), 100), row(revocation(first, 2, 4), 900, "z")];
    for (const order of permutations(rows))
      expect(kept(order)?.[1]).toBe(revocation(second, 20, 10));
  });

  test("anything else (not a revocation) is left to the clock", () => {
    expect(revocationPrecedence('"not a jws"', revocation(first, 1, 1))).toBe(0);
    expect(revocationPrecedence(null, revocation(first, 1, 1))).toBe(0);
    expect(rowWins(["apps/x", '"b"', 2, 0, "a", 1], ["apps/x", '"a"', 1, 0, "a", 1])).toBe(true);
  });
});
