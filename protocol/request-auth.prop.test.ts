/**
 * A signed request verifies exactly as signed: any other method, path, body, audience or
 * time is refused, and skew within the window never is.
 */
import { describe, expect, test } from "bun:test";
import fc from "fast-check";
import { signingKeyFromSeed } from "./ed25519.ts";
import { deviceIdFromPublicKey } from "./ids.ts";
import {
  checkSignedRequest,
  MAX_REQUEST_SKEW_MS,
  type RequestToSign,
  signRequest,
} from "./request-auth.ts";

const client = signingKeyFromSeed(new Uint8Array(32).fill(1));
const clientId = deviceIdFromPublicKey(client.publicKey);

const request = fc.record({
  method: fc.constantFrom("GET", "POST", "PUT", "DELETE"),
  path: fc.webPath().map((path) => `/${path.replace(/^\/+/, "")}`),
  audience: fc
    .uint8Array({ minLength: 32, maxLength: 32 })
    .map((key) => deviceIdFromPublicKey(key)),
  body: fc.uint8Array({ maxLength: 256 }),
});
const nowMs = fc.integer({ min: MAX_REQUEST_SKEW_MS, max: 2 ** 47 });

function check(signed: RequestToSign, received: RequestToSign, signedAt: number, at: number) {
  return checkSignedRequest(received, new Headers(signRequest(signed, client, signedAt)), at);
}

describe("signed requests", () => {
  test("verify as signed, at any time within the allowed skew", () => {
    fc.assert(
      fc.property(
        request,
        nowMs,
        fc.integer({ min: -MAX_REQUEST_SKEW_MS, max: MAX_REQUEST_SKEW_MS }),
        (value, signedAt, skewMs) => {
          expect(check(value, value, signedAt, signedAt + skewMs)).toEqual({
            ok: true,
            device: clientId,
            timeMs: signedAt,
          });
        },
      ),
      { numRuns: 300 },
    );
  });

  test("are refused when any one part differs", () => {
    fc.assert(
      fc.property(request, request, nowMs, fc.nat(3), (value, other, signedAt, which) => {
        const field = (["method", "path", "audience", "body"] as const)[
          which
        ] as keyof RequestToSign;
        const received = { ...value, [field]: other[field] };
        fc.pre(JSON.stringify(received[field]) !== JSON.stringify(value[field]));
        expect(check(value, received, signedAt, signedAt)).toEqual({
          ok: false,
          reason: "bad request signature",
        });
      }),
      { numRuns: 300 },
    );
  });

  test("are refused when their time is further off than the allowed skew, with by how much up to a day", () => {
    fc.assert(
      fc.property(
        request,
        nowMs,
        fc.integer({ min: MAX_REQUEST_SKEW_MS + 1, max: 2 ** 40 }),
        fc.boolean(),
        (value, signedAt, skewMs, ahead) => {
          const checked = check(value, value, signedAt, signedAt + (ahead ? skewMs : -skewMs));
          expect(checked).toMatchObject({
            ok: false,
            reason: "the request's time is too far from this device's clock",
          });
          // Authentic: within a day, who made it and how far its clock is off are said.
          const skewed = checked.ok ? undefined : checked.skewed;
          if (skewMs > 86_400_000) expect(skewed).toBeUndefined();
          else expect(skewed?.offsetMs).toBe(ahead ? -skewMs : skewMs);
        },
      ),
      { numRuns: 300 },
    );
  });
});
