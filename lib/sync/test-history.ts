/**
 * Histories of a test zone for the merge's property tests: device 0 founds the zone and
 * admits (and may revoke) devices 1 and 2 along the way, 3 never is; devices write, some
 * changesets are forged, some signed twice (equivocation); `page` is the entries as a peer
 * might send them, in any order, some twice.
 */
import fc from "fast-check";
import { type Changeset, type Op, signChangeset } from "../../protocol/changeset.ts";
import { signDeviceDocument, signRevocation, signZoneDocument } from "../../protocol/documents.ts";
import { type SigningKey, signingKeyFromSeed } from "../../protocol/ed25519.ts";
import { type DeviceId, deviceIdFromPublicKey } from "../../protocol/ids.ts";
import type { DeviceName, ZoneName } from "../../protocol/names.ts";
import { seed } from "../state/test-db.ts";

export const owner = signingKeyFromSeed(seed(1));
export const zoneDoc = signZoneDocument({ name: "home" as ZoneName, issuedAt: 1 }, owner);
/** Device 0 founds the zone; 1 and 2 are admitted (or not) along the way; 3 never is. */
export const keys = [20, 21, 22, 23].map((byte) => signingKeyFromSeed(seed(byte)));
export const ids = keys.map((key) => deviceIdFromPublicKey(key.publicKey));
export const names = ["d0", "d1", "d2", "d3"] as DeviceName[];
export const NOW_MS = 10_000_000;

export type Step =
  | { kind: "admit"; device: number }
  | { kind: "revoke"; device: number }
  | { kind: "write"; device: number; keys: number[]; value: number | null }
  | { kind: "equivocate"; device: number }
  | { kind: "forge"; device: number };

const device = fc.integer({ min: 0, max: 3 });
const step: fc.Arbitrary<Step> = fc.oneof(
  { weight: 2, arbitrary: fc.record({ kind: fc.constant("admit" as const), device }) },
  {
    weight: 8,
    arbitrary: fc.record({
      kind: fc.constant("write" as const),
      device,
      keys: fc.uniqueArray(fc.nat(5), { minLength: 1, maxLength: 3 }),
      value: fc.option(fc.nat(99), { nil: null }),
    }),
  },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant("forge" as const), device }) },
);

/** A feed's last seq, its hash, and the prev it named. */
interface Head {
  seq: number;
  prev: Uint8Array | null;
  before: Uint8Array | null;
}

/** The entries a history of steps makes, in the order they were signed. */
export function history(steps: readonly Step[]): Uint8Array[] {
  const heads: Head[] = keys.map(() => ({ seq: 0, prev: null, before: null }));
  const entries: Uint8Array[] = [];
  let clock = 1000;
  const tick = () => {
    clock += 3;
    return clock;
  };
  const append = (i: number, ops: Op[]): Changeset => {
    const head = heads[i] as Head;
    const changeset = signChangeset(
      {
        zone: zoneDoc.id,
        author: ids[i] as DeviceId,
        seq: head.seq + 1,
        prev: head.prev,
        hlc: { ms: tick() - i, counter: 0 },
        ops,
      },
      keys[i] as SigningKey,
    );
    heads[i] = { seq: changeset.seq, prev: changeset.hash, before: head.prev };
    entries.push(changeset.bytes);
    return changeset;
  };
  const docOf = (i: number) => ({
    key: `devices/${names[i]}/doc`,
    value: JSON.stringify(
      signDeviceDocument(
        {
          name: names[i] as DeviceName,
          devicePublicKey: (keys[i] as SigningKey).publicKey,
          issuedAt: 1,
        },
        owner,
      ).jws,
    ),
  });
  append(0, [{ key: "boot/config", value: JSON.stringify(zoneDoc.jws) }, docOf(0)]);
  for (const s of steps) {
    if (s.kind === "admit" && s.device > 0 && s.device < 3) append(0, [docOf(s.device)]);
    if (s.kind === "revoke" && s.device > 0 && s.device < 3) {
      const revocation = signRevocation(
        {
          id: ids[s.device] as DeviceId,
          name: names[s.device] as DeviceName,
          lastSeq: (heads[s.device] as { seq: number }).seq,
          issuedAt: 2,
        },
        owner,
      );
      append(0, [
        { key: `devices/${names[s.device]}/revoked`, value: JSON.stringify(revocation.jws) },
      ]);
    }
    if (s.kind === "write")
      append(
        s.device,
        s.keys.map((k) => ({ key: `apps/k${k}`, value: s.value === null ? null : `${s.value}` })),
      );
    if (s.kind === "equivocate" && (heads[s.device] as { seq: number }).seq > 0) {
      // A second changeset with the seq (and prev) of the device's last one.
      const head = heads[s.device] as Head;
      entries.push(
        signChangeset(
          {
            zone: zoneDoc.id,
            author: ids[s.device] as DeviceId,
            seq: head.seq,
            prev: head.before,
            hlc: { ms: tick() - s.device, counter: 0 },
            ops: [{ key: "apps/twice", value: `${clock}` }],
          },
          keys[s.device] as SigningKey,
        ).bytes,
      );
    }
    if (s.kind === "forge") {
      const bytes = Uint8Array.from(append(s.device, [{ key: "apps/forged", value: "1" }]).bytes);
      bytes[bytes.length - 1] = (bytes[bytes.length - 1] as number) ^ 1;
      entries[entries.length - 1] = bytes;
    }
  }
  return entries;
}

/**
 * A page as a peer might send it: the entries in any order, some twice; in `rareWeight`
 * thirds of pages (1 or 2), devices have signed a second changeset with the seq of their
 * last, or the owner revokes some (and pages holding these are applied whole); with
 * `forkedRevocations`, some of those revoke a device that also forks, a few steps before
 * or after the revocation.
 */
export function pageOf(rareWeight: number, forkedRevocations = false) {
  const rareSteps = fc.array(
    fc.record({
      kind: fc.constantFrom("equivocate" as const, "revoke" as const),
      device: fc.integer({ min: 0, max: 2 }),
      at: fc.nat(40),
    }),
    { minLength: 1, maxLength: 3 },
  );
  const revokedAndForked = fc
    .record({
      first: fc.constantFrom("equivocate" as const, "revoke" as const),
      device: fc.integer({ min: 1, max: 2 }),
      at: fc.nat(40),
      gap: fc.nat(3),
    })
    // The later one is put in first: the earlier, put in at `at` after it, comes before it.
    .map(({ first, device, at, gap }) => [
      {
        kind: first === "revoke" ? ("equivocate" as const) : ("revoke" as const),
        device,
        at: at + gap + 1,
      },
      { kind: first, device, at },
    ]);
  return fc
    .tuple(
      fc.array(step, { minLength: 8, maxLength: 40 }),
      fc.oneof(
        { weight: 3 - rareWeight, arbitrary: fc.constant([]) },
        {
          weight: rareWeight,
          arbitrary: forkedRevocations ? fc.oneof(rareSteps, revokedAndForked) : rareSteps,
        },
      ),
      fc.nat(),
      fc.array(fc.nat(60), { maxLength: 4 }),
    )
    .map(([steps, rare, seedOfOrder, twice]) => {
      const all: Step[] = [...steps];
      for (const { at, kind, device } of rare)
        all.splice(at % (all.length + 1), 0, { kind, device });
      const entries = history(all);
      const again = twice.flatMap((i) => (entries[i] ? [entries[i] as Uint8Array] : []));
      return shuffled([...entries, ...again], seedOfOrder);
    });
}

/** A page where a third of the histories hold the rare steps. */
export const page = pageOf(1);

export function shuffled<T>(items: T[], seedOfOrder: number): T[] {
  let state = seedOfOrder || 1;
  const out = [...items];
  for (let i = out.length - 1; i > 0; i--) {
    state = (state * 1_103_515_245 + 12_345) % 2 ** 31;
    const j = state % (i + 1);
    [out[i], out[j]] = [out[j] as T, out[i] as T];
  }
  return out;
}
