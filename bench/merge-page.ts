/**
 * The page the merge benchmarks apply: a zone's first changeset (its document and two
 * devices' documents, by the first device), then `changesetCount` changesets of
 * `opsPerChangeset` ops each, the two devices in turn. Keys are written in order
 * (`apps/k0`, `apps/k1`, …) unless `scattered`: then in no order, as many apps' writes
 * come, each landing anywhere in the state's B-tree.
 */
import { type Changeset, signChangeset } from "../protocol/changeset.ts";
import { signDeviceDocument, signZoneDocument } from "../protocol/documents.ts";
import { signingKeyFromSeed } from "../protocol/ed25519.ts";
import { deviceIdFromPublicKey, type ZoneId } from "../protocol/ids.ts";
import type { DeviceName, ZoneName } from "../protocol/names.ts";

export const seed = (byte: number) => new Uint8Array(32).fill(byte);

export function signedPage(
  changesetCount: number,
  opsPerChangeset: number,
  scattered = false,
): { zone: ZoneId; entries: Changeset[] } {
  const owner = signingKeyFromSeed(seed(1));
  const zone = signZoneDocument({ name: "bench" as ZoneName, issuedAt: 1 }, owner);
  const authors = [2, 3].map((b) => signingKeyFromSeed(seed(b)));
  const names = ["a", "b"];
  const entries: Changeset[] = [];
  // The founder's first changeset introduces both devices.
  entries.push(
    signChangeset(
      {
        zone: zone.id,
        author: deviceIdFromPublicKey((authors[0] as (typeof authors)[0]).publicKey),
        seq: 1,
        prev: null,
        hlc: { ms: 1, counter: 0 },
        ops: [
          { key: "boot/config", value: JSON.stringify(zone.jws) },
          ...authors.map((key, i) => ({
            key: `devices/${names[i]}/doc`,
            value: JSON.stringify(
              signDeviceDocument(
                { name: names[i] as DeviceName, devicePublicKey: key.publicKey, issuedAt: 1 },
                owner,
              ).jws,
            ),
          })),
        ],
      },
      authors[0] as (typeof authors)[0],
    ),
  );
  const heads = authors.map((_, i) =>
    i === 0
      ? { seq: 2, prev: (entries[0] as Changeset).hash }
      : { seq: 1, prev: null as Uint8Array | null },
  );
  for (let c = 0; c < changesetCount; c++) {
    const i = c % authors.length;
    const head = heads[i] as { seq: number; prev: Uint8Array | null };
    const changeset = signChangeset(
      {
        zone: zone.id,
        author: deviceIdFromPublicKey((authors[i] as (typeof authors)[0]).publicKey),
        seq: head.seq,
        prev: head.prev,
        hlc: { ms: 1000 + c, counter: 0 },
        ops: Array.from({ length: opsPerChangeset }, (_, k) => {
          const n = c * opsPerChangeset + k;
          // 7,919 is prime: n × 7,919 mod 100,000 visits every key once, in no order.
          return { key: `apps/k${(scattered ? n * 7919 : n) % 100_000}`, value: String(k) };
        }),
      },
      authors[i] as (typeof authors)[0],
    );
    heads[i] = { seq: head.seq + 1, prev: changeset.hash };
    entries.push(changeset);
  }
  return { zone: zone.id, entries };
}
