/**
 * Documents are verified exactly as received: any change to a single bit of the compact
 * string, anywhere, must be refused with a ProtocolError.
 */
import { describe, expect, test } from "bun:test";
import fc from "fast-check";
import {
  signDeviceDocument,
  signRevocation,
  signZoneDocument,
  verifyDeviceDocument,
  verifyRevocation,
  verifyZoneDocument,
} from "./documents.ts";
import { signingKeyFromSeed } from "./ed25519.ts";
import { ProtocolError } from "./errors.ts";
import { deviceIdFromPublicKey } from "./ids.ts";
import type { DeviceName, ZoneName } from "./names.ts";

const seed = fc.uint8Array({ minLength: 32, maxLength: 32 });
const name = fc
  .tuple(
    fc.constantFrom(..."abcdefghijklmnopqrstuvwxyz"),
    fc.string({ unit: fc.constantFrom(..."abcxyz0189-"), maxLength: 61 }),
    fc.constantFrom(..."az09"),
  )
  .map(([first, middle, last]) => (middle === "" ? first : `${first}${middle}${last}`));
const issuedAt = fc.nat({ max: 2 ** 40 });

/** `text` with bit `bit` (0 to 7) of the character at `index` flipped. */
function flipBit(text: string, index: number, bit: number): string {
  const flipped = String.fromCharCode(text.charCodeAt(index) ^ (1 << bit));
  return `${text.slice(0, index)}${flipped}${text.slice(index + 1)}`;
}

function errorOf(run: () => unknown): unknown {
  try {
    run();
  } catch (error) {
    return error;
  }
  return undefined;
}

function makeZoneDocument(ownerSeed: Uint8Array, zoneName: string, iat: number) {
  return signZoneDocument(
    { name: zoneName as ZoneName, issuedAt: iat },
    signingKeyFromSeed(ownerSeed),
  );
}

function makeDeviceDocument(
  ownerSeed: Uint8Array,
  deviceSeed: Uint8Array,
  deviceName: string,
  iat: number,
) {
  return signDeviceDocument(
    {
      name: deviceName as DeviceName,
      devicePublicKey: signingKeyFromSeed(deviceSeed).publicKey,
      issuedAt: iat,
    },
    signingKeyFromSeed(ownerSeed),
  );
}

function makeRevocation(
  ownerSeed: Uint8Array,
  deviceSeed: Uint8Array,
  deviceName: string,
  lastSeq: number,
  iat: number,
) {
  return signRevocation(
    {
      id: deviceIdFromPublicKey(signingKeyFromSeed(deviceSeed).publicKey),
      name: deviceName as DeviceName,
      lastSeq,
      issuedAt: iat,
    },
    signingKeyFromSeed(ownerSeed),
  );
}

describe("documents round-trip", () => {
  test("a signed zone document verifies to itself", () => {
    fc.assert(
      fc.property(seed, name, issuedAt, (ownerSeed, zoneName, iat) => {
        const document = makeZoneDocument(ownerSeed, zoneName, iat);
        expect(verifyZoneDocument(document.jws, document.id)).toEqual(document);
        expect(document.name).toBe(zoneName as ZoneName);
        expect(document.issuedAt).toBe(iat);
      }),
      { numRuns: 200 },
    );
  });

  test("a signed device document verifies to itself in its zone only", () => {
    fc.assert(
      fc.property(
        seed,
        seed,
        seed,
        name,
        issuedAt,
        (ownerSeed, otherSeed, deviceSeed, deviceName, iat) => {
          fc.pre(otherSeed.some((byte, i) => byte !== ownerSeed[i]));
          const document = makeDeviceDocument(ownerSeed, deviceSeed, deviceName, iat);
          expect(verifyDeviceDocument(document.jws, document.zone)).toEqual(document);
          const otherZone = makeZoneDocument(otherSeed, "other", 0).id;
          expect(errorOf(() => verifyDeviceDocument(document.jws, otherZone))).toBeInstanceOf(
            ProtocolError,
          );
        },
      ),
      { numRuns: 200 },
    );
  });
});

describe("revocations round-trip", () => {
  test("a signed revocation verifies to itself in its zone only", () => {
    fc.assert(
      fc.property(
        seed,
        seed,
        seed,
        name,
        fc.nat(),
        issuedAt,
        (ownerSeed, otherSeed, deviceSeed, deviceName, lastSeq, iat) => {
          fc.pre(otherSeed.some((byte, i) => byte !== ownerSeed[i]));
          const revocation = makeRevocation(ownerSeed, deviceSeed, deviceName, lastSeq, iat);
          expect(verifyRevocation(revocation.jws, revocation.zone)).toEqual(revocation);
          expect(revocation.lastSeq).toBe(lastSeq);
          const otherZone = makeZoneDocument(otherSeed, "other", 0).id;
          expect(errorOf(() => verifyRevocation(revocation.jws, otherZone))).toBeInstanceOf(
            ProtocolError,
          );
        },
      ),
      { numRuns: 200 },
    );
  });
});

describe("any single bit flip is refused", () => {
  test("in a zone document, at any position and bit", () => {
    fc.assert(
      fc.property(
        seed,
        name,
        issuedAt,
        fc.nat(),
        fc.nat(7),
        (ownerSeed, zoneName, iat, position, bit) => {
          const { jws, id } = makeZoneDocument(ownerSeed, zoneName, iat);
          const changed = flipBit(jws, position % jws.length, bit);
          fc.pre(changed !== jws);
          expect(errorOf(() => verifyZoneDocument(changed))).toBeInstanceOf(ProtocolError);
          expect(errorOf(() => verifyZoneDocument(changed, id))).toBeInstanceOf(ProtocolError);
        },
      ),
      { numRuns: 2000 },
    );
  });

  test("in a device document, at any position and bit", () => {
    fc.assert(
      fc.property(
        seed,
        seed,
        name,
        issuedAt,
        fc.nat(),
        fc.nat(7),
        (ownerSeed, deviceSeed, deviceName, iat, position, bit) => {
          const { jws, zone } = makeDeviceDocument(ownerSeed, deviceSeed, deviceName, iat);
          const changed = flipBit(jws, position % jws.length, bit);
          fc.pre(changed !== jws);
          expect(errorOf(() => verifyDeviceDocument(changed, zone))).toBeInstanceOf(ProtocolError);
        },
      ),
      { numRuns: 2000 },
    );
  });

  test("in a revocation, at any position and bit", () => {
    fc.assert(
      fc.property(
        seed,
        seed,
        name,
        fc.nat(),
        fc.nat(),
        fc.nat(7),
        (ownerSeed, deviceSeed, deviceName, lastSeq, position, bit) => {
          const { jws, zone } = makeRevocation(ownerSeed, deviceSeed, deviceName, lastSeq, 0);
          const changed = flipBit(jws, position % jws.length, bit);
          fc.pre(changed !== jws);
          expect(errorOf(() => verifyRevocation(changed, zone))).toBeInstanceOf(ProtocolError);
        },
      ),
      { numRuns: 2000 },
    );
  });

  // The same, exhaustively over every bit of one document of each kind.
  const ownerSeed = new Uint8Array(32).fill(0x11);
  const deviceSeed = new Uint8Array(32).fill(0x22);

  test("in every bit of one zone document", () => {
    const { jws } = makeZoneDocument(ownerSeed, "home", 1_767_225_600);
    const accepted: string[] = [];
    for (let index = 0; index < jws.length; index++) {
      for (let bit = 0; bit < 8; bit++) {
        const error = errorOf(() => verifyZoneDocument(flipBit(jws, index, bit)));
        if (!(error instanceof ProtocolError)) accepted.push(`char ${index} bit ${bit}`);
      }
    }
    expect(accepted).toEqual([]);
  });

  test("in every bit of one device document", () => {
    const { jws, zone } = makeDeviceDocument(ownerSeed, deviceSeed, "laptop", 1_767_225_600);
    const accepted: string[] = [];
    for (let index = 0; index < jws.length; index++) {
      for (let bit = 0; bit < 8; bit++) {
        const changed = flipBit(jws, index, bit);
        const error = errorOf(() => verifyDeviceDocument(changed, zone));
        if (!(error instanceof ProtocolError)) accepted.push(`char ${index} bit ${bit}`);
      }
    }
    expect(accepted).toEqual([]);
  });

  test("in every bit of one revocation", () => {
    const { jws, zone } = makeRevocation(ownerSeed, deviceSeed, "laptop", 7, 1_767_225_600);
    const accepted: string[] = [];
    for (let index = 0; index < jws.length; index++) {
      for (let bit = 0; bit < 8; bit++) {
        const error = errorOf(() => verifyRevocation(flipBit(jws, index, bit), zone));
        if (!(error instanceof ProtocolError)) accepted.push(`char ${index} bit ${bit}`);
      }
    }
    expect(accepted).toEqual([]);
  });
});
