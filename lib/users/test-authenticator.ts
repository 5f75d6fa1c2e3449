/**
 * A software passkey authenticator for tests: one P-256 passkey for a host, answering
 * with "none" attestation, as a phone's platform authenticator does.
 */
import { createHash, generateKeyPairSync, type KeyObject, randomBytes, sign } from "node:crypto";
import { Encoder } from "cbor-x";
import { toBase64url } from "../../protocol/encoding.ts";

const cbor = new Encoder({
  variableMapSize: true,
  useRecords: false,
  tagUint8Array: false,
  useTag259ForMaps: false,
} as never);

/** A software authenticator holding one P-256 passkey for `rpId`; `origin` is its pages' own. */
export function authenticator(rpId: string, origin = `https://${rpId}`) {
  const { publicKey, privateKey } = generateKeyPairSync("ec", { namedCurve: "P-256" });
  const jwk = publicKey.export({ format: "jwk" }) as { x: string; y: string };
  const id = new Uint8Array(randomBytes(16));
  const rpHash = createHash("sha256").update(rpId).digest();
  const data = (flags: number, counter: number, attested: Uint8Array[] = []) => {
    const count = Buffer.alloc(4);
    count.writeUInt32BE(counter);
    return Buffer.concat([rpHash, Buffer.from([flags]), count, ...attested]);
  };
  /** What a browser sends back of the passkey's `response`. */
  const answer = <R extends Record<string, string>>(response: R) => ({
    id: toBase64url(id),
    rawId: toBase64url(id),
    type: "public-key",
    clientExtensionResults: {},
    response,
  });
  const clientData = (type: string, challenge: string, at: string) =>
    Buffer.from(JSON.stringify({ type, challenge, origin: at, crossOrigin: false }));
  return {
    id: toBase64url(id),
    make(challenge: string, from = origin) {
      const cose = new Map<number, unknown>([
        [1, 2],
        [3, -7],
        [-1, 1],
        [-2, Buffer.from(jwk.x, "base64url")],
        [-3, Buffer.from(jwk.y, "base64url")],
      ]);
      const length = Buffer.alloc(2);
      length.writeUInt16BE(id.length);
      const attested = Buffer.concat([Buffer.alloc(16), length, id, cbor.encode(cose)]);
      const attestationObject = cbor.encode({
        fmt: "none",
        attStmt: {},
        authData: data(0x45, 0, [attested]),
      });
      return answer({
        clientDataJSON: toBase64url(clientData("webauthn.create", challenge, from)),
        attestationObject: toBase64url(attestationObject),
      });
    },
    use(challenge: string, from = origin, key: KeyObject = privateKey) {
      const authenticatorData = data(0x05, 1);
      const json = clientData("webauthn.get", challenge, from);
      const signature = sign(
        "sha256",
        Buffer.concat([authenticatorData, createHash("sha256").update(json).digest()]),
        key,
      );
      return answer({
        clientDataJSON: toBase64url(json),
        authenticatorData: toBase64url(authenticatorData),
        signature: toBase64url(signature),
      });
    },
  };
}
