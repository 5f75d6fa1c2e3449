import { describe, expect, test } from "bun:test";
import { randomBytes } from "node:crypto";
import { signDeviceDocument } from "./documents.ts";
import { signingKeyFromSeed } from "./ed25519.ts";
import { ProtocolError } from "./errors.ts";
import { deviceIdFromPublicKey } from "./ids.ts";
import type { DeviceName } from "./names.ts";
import {
  answerChallenge,
  checkHello,
  decodeControl,
  decodeRelayTicket,
  encodeRelayTicket,
  MAX_CONTROL_CHARS,
} from "./relay.ts";
import { certificatePem, deviceCertificate } from "./tls-cert.ts";

const owner = signingKeyFromSeed(randomBytes(32));
const deviceKey = signingKeyFromSeed(randomBytes(32));
const relayKey = signingKeyFromSeed(randomBytes(32));
const relay = deviceIdFromPublicKey(relayKey.publicKey);
const document = signDeviceDocument(
  { name: "laptop" as DeviceName, devicePublicKey: deviceKey.publicKey, issuedAt: 1 },
  owner,
);

describe("relay hello", () => {
  test("a device answers the relay's challenge with its document, and is recognized", () => {
    const hello = answerChallenge("nonce-1", relay, document.jws, deviceKey);
    expect(checkHello(decodeControl(JSON.stringify(hello)), "nonce-1", relay)).toEqual({
      zone: document.zone,
      device: document.id,
      name: "laptop",
    });
  });

  test("an answer to another challenge, for another relay, or by another key is refused", () => {
    const hello = answerChallenge("nonce-1", relay, document.jws, deviceKey);
    expect(() => checkHello(hello, "nonce-2", relay)).toThrow(ProtocolError);
    expect(() => checkHello(hello, "nonce-1", document.id)).toThrow(ProtocolError);
    const stolen = answerChallenge("nonce-1", relay, document.jws, relayKey);
    expect(() => checkHello(stolen, "nonce-1", relay)).toThrow(/not signed by the device/);
  });

  test("malformed control messages are refused with a reason", () => {
    for (const text of [
      "",
      "{}",
      '{"type":"open"}',
      '{"type":"open-own"}',
      '{"type":"open-pipe"}',
      '{"type":"open-pipe","stream":"s","app":"notes"}',
      `{"type":"open-pipe","stream":"s","app":"${"x".repeat(65)}","refusal":"r"}`,
      `{"type":"open-pipe","stream":"${"x".repeat(65)}","app":"notes","refusal":"r"}`,
      '{"type":"nope"}',
      "[1]",
      // Past the longest a hello can be, refused before it is parsed.
      JSON.stringify({ type: "ping", pad: "x".repeat(MAX_CONTROL_CHARS) }),
    ])
      expect(() => decodeControl(text)).toThrow(ProtocolError);
  });

  test("version 2: a hello says the device takes the relay's own streams, still recognized as before", () => {
    const hello = answerChallenge("nonce-1", relay, document.jws, deviceKey, ["own"]);
    const read = decodeControl(JSON.stringify(hello));
    expect(read).toMatchObject({ type: "hello", takes: ["own"] });
    expect(checkHello(read, "nonce-1", relay).device).toBe(document.id);
    // A hello of version 1 says nothing of it.
    const older = decodeControl(
      JSON.stringify(answerChallenge("n", relay, document.jws, deviceKey)),
    );
    expect("takes" in older).toBe(false);
    expect(decodeControl('{"type":"open-own","stream":"abc"}')).toEqual({
      type: "open-own",
      stream: "abc",
    });
    for (const takes of [
      '"own"',
      "[1]",
      JSON.stringify(Array(9).fill("own")),
      `["${"x".repeat(33)}"]`,
    ])
      expect(() =>
        decodeControl(`{"type":"hello","document":"d","signature":"s","takes":${takes}}`),
      ).toThrow(/takes/);
  });

  test("version 3: a hello says the device takes pipe streams, beside own ones", () => {
    const hello = answerChallenge("nonce-1", relay, document.jws, deviceKey, ["own", "pipe"]);
    const read = decodeControl(JSON.stringify(hello));
    expect(read).toMatchObject({ type: "hello", takes: ["own", "pipe"] });
    expect(checkHello(read, "nonce-1", relay).device).toBe(document.id);
    expect(
      decodeControl('{"type":"open-pipe","stream":"abc","app":"notes","refusal":"p","x":1}'),
    ).toEqual({ type: "open-pipe", stream: "abc", app: "notes", refusal: "p" });
  });
});

describe("relay tickets", () => {
  const ticket = {
    id: relay,
    name: "relay",
    addrs: ["https://203.0.113.5:4411"],
    cert: certificatePem(deviceCertificate(relayKey)),
  };

  test("round-trip", () => {
    expect(decodeRelayTicket(encodeRelayTicket(ticket))).toEqual(ticket);
  });

  test("a certificate that is not the device's, or a damaged ticket, is refused", () => {
    const other = { ...ticket, cert: certificatePem(deviceCertificate(deviceKey)) };
    expect(() => decodeRelayTicket(encodeRelayTicket(other))).toThrow(/certificate/);
    expect(() => decodeRelayTicket(encodeRelayTicket({ ...ticket, addrs: [] }))).toThrow();
    expect(() => decodeRelayTicket("bucky-relay:%%%")).toThrow(ProtocolError);
    expect(() => decodeRelayTicket("relay:abc")).toThrow(ProtocolError);
  });
});
