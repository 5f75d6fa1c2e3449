/**
 * An invitation verifies to exactly what the owner signed, and any single bit flip in the
 * token is refused with a ProtocolError.
 */
import { describe, expect, test } from "bun:test";
import fc from "fast-check";
import { signingKeyFromSeed } from "./ed25519.ts";
import { toBase64url } from "./encoding.ts";
import { ProtocolError } from "./errors.ts";
import { deviceIdFromPublicKey, zoneIdFromPublicKey } from "./ids.ts";
import { MAX_INVITE_ADDRESSES, signInvite, verifyInvite } from "./invite.ts";

const owner = signingKeyFromSeed(new Uint8Array(32).fill(1));
const zone = zoneIdFromPublicKey(owner.publicKey);

const address = fc
  .tuple(fc.domain(), fc.integer({ min: 1, max: 65_535 }))
  .map(([host, port]) => `https://${host}:${port}`)
  .filter((text) => text.length <= 256);
const fields = fc.record({
  inviter: fc.uint8Array({ minLength: 32, maxLength: 32 }).map((key) => deviceIdFromPublicKey(key)),
  id: fc.uint8Array({ minLength: 16, maxLength: 16 }).map((bytes) => toBase64url(bytes)),
  secret: fc.uint8Array({ minLength: 32, maxLength: 32 }),
  expiresAt: fc.nat({ max: 2 ** 40 }),
  addresses: fc.array(address, { maxLength: MAX_INVITE_ADDRESSES }),
});

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

describe("invitations", () => {
  test("verify to exactly what was signed", () => {
    fc.assert(
      fc.property(fields, (invite) => {
        expect(verifyInvite(signInvite(invite, owner))).toEqual({ zone, ...invite });
      }),
      { numRuns: 200 },
    );
  });

  test("are refused with any single bit flipped", () => {
    fc.assert(
      fc.property(fields, fc.nat(), fc.nat(7), (invite, position, bit) => {
        const token = signInvite(invite, owner);
        // Whitespace added at either end is trimmed, by design: flip inside the token.
        const changed = flipBit(token, position % token.length, bit);
        fc.pre(changed.trim() !== token);
        expect(errorOf(() => verifyInvite(changed))).toBeInstanceOf(ProtocolError);
      }),
      { numRuns: 1000 },
    );
  });
});
