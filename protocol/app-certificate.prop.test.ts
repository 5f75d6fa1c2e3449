/**
 * An app certificate is read back byte for byte: for any key and any app name, the
 * certificate that key makes for that app reads as exactly that key and app, and with any
 * single byte changed it reads as nothing.
 */
import { describe, expect, test } from "bun:test";
import fc from "fast-check";
import { appCertificate, readAppCertificate } from "./app-certificate.ts";
import { signingKeyFromSeed } from "./ed25519.ts";
import { toHex } from "./encoding.ts";
import { type AppName, MAX_NAME_LENGTH } from "./names.ts";

const seed = fc.uint8Array({ minLength: 32, maxLength: 32 });
const appName = fc
  .stringMatching(/^[a-z](?:[a-z0-9-]*[a-z0-9])?$/)
  .filter((name) => name.length <= MAX_NAME_LENGTH)
  .map((name) => name as AppName);

describe("app certificates of any key and app", () => {
  test("read back as that key and that app", () => {
    fc.assert(
      fc.property(seed, appName, (keySeed, app) => {
        const key = signingKeyFromSeed(keySeed);
        const holder = readAppCertificate(appCertificate(key, app));
        expect(holder && { key: toHex(holder.publicKey), app: holder.app }).toEqual({
          key: toHex(key.publicKey),
          app,
        });
      }),
      { numRuns: 200 },
    );
  });

  test("read as nothing with any single byte changed, at any position", () => {
    fc.assert(
      fc.property(
        seed,
        appName,
        fc.nat(),
        fc.integer({ min: 1, max: 255 }),
        (keySeed, app, at, mask) => {
          const der = appCertificate(signingKeyFromSeed(keySeed), app);
          const position = at % der.length;
          der[position] = (der[position] as number) ^ mask;
          expect(readAppCertificate(der)).toBeUndefined();
        },
      ),
      { numRuns: 1000 },
    );
  });
});
