import { describe, expect, test } from "bun:test";
import { generateKeyPairSync, sign, X509Certificate } from "node:crypto";
import {
  addressBytes,
  certificate,
  isLocalAddress,
  isLocalName,
  leafTbs,
  type RootRequest,
  rootTbs,
} from "./zone-ca.ts";

const ca = generateKeyPairSync("ec", { namedCurve: "prime256v1" });
const spki = (key: typeof ca.publicKey) =>
  new Uint8Array(key.export({ format: "der", type: "spki" }));
const root: RootRequest = {
  zoneName: "home",
  zoneId: "zexampleexampleexample",
  publicKey: spki(ca.publicKey),
  serial: new Uint8Array(16).fill(7),
  notBeforeMs: Date.parse("2026-01-01T00:00:00Z"),
};
const signed = (tbs: Uint8Array) =>
  new X509Certificate(
    Buffer.from(certificate(tbs, new Uint8Array(sign("sha256", tbs, ca.privateKey)))),
  );

describe("the names the zone CA may certify", () => {
  test("local names, and wildcards under them; nothing on the internet", () => {
    for (const name of [
      "home.lan",
      "nas.local",
      "x.home.arpa",
      "a.b.internal",
      "*.home.lan",
      "dev.test",
    ])
      expect(isLocalName(name)).toBe(true);
    for (const name of [
      "example.com",
      "lan.example.com",
      "home.lan.",
      "local",
      "*.com",
      "a..lan",
      "évil.lan",
    ])
      expect(isLocalName(name)).toBe(name === "local");
  });

  test("private, loopback and link-local addresses; no public one", () => {
    for (const address of [
      "10.1.2.3",
      "172.16.0.1",
      "172.31.255.255",
      "192.168.1.20",
      "127.0.0.1",
      "169.254.1.1",
      "100.64.0.1",
      "fd00::1",
      "fe80::1",
      "::1",
    ])
      expect(isLocalAddress(address)).toBe(true);
    for (const address of [
      "8.8.8.8",
      "172.32.0.1",
      "192.169.0.1",
      "2001:db8::1",
      "::2",
      "256.1.1.1",
      "1.2.3",
    ])
      expect(isLocalAddress(address)).toBe(false);
    expect([...(addressBytes("fe80::1:2") ?? [])]).toEqual([
      0xfe, 0x80, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 2,
    ]);
  });
});

describe("certificates", () => {
  test("a root is a constrained CA; a leaf it signs verifies against it and names what was asked", () => {
    const rootCert = signed(rootTbs(root));
    expect(rootCert.ca).toBe(true);
    expect(rootCert.subject).toBe("CN=bucky zone CA for home (zexampleexam)");
    expect(rootCert.verify(ca.publicKey)).toBe(true);
    expect(rootCert.validFrom).toBe("Jan  1 00:00:00 2026 GMT");
    expect(rootCert.validTo).toBe("Dec 30 00:00:00 2035 GMT");

    const gateway = generateKeyPairSync("ec", { namedCurve: "prime256v1" });
    const leaf = signed(
      leafTbs({
        issuer: root,
        publicKey: spki(gateway.publicKey),
        dnsNames: ["home.lan", "*.home.lan"],
        addresses: ["192.168.1.20"],
        serial: new Uint8Array(16).fill(9),
        notBeforeMs: root.notBeforeMs,
      }),
    );
    expect(leaf.ca).toBe(false);
    expect(leaf.checkIssued(rootCert)).toBe(true);
    expect(leaf.verify(rootCert.publicKey)).toBe(true);
    expect(leaf.subjectAltName).toBe("DNS:home.lan, DNS:*.home.lan, IP Address:192.168.1.20");
    expect(leaf.checkHost("notes.home.lan")).toBe("*.home.lan");
    expect(leaf.checkHost("bank.example.com")).toBeUndefined();
    expect(leaf.checkIP("192.168.1.20")).toBe("192.168.1.20");
    expect(leaf.validTo).toBe("Feb 15 00:00:00 2026 GMT");
    expect(leaf.keyUsage).toEqual(["1.3.6.1.5.5.7.3.1"]); // serverAuth, its extended key usage
  });

  test("a leaf for a public name or address is refused before anything is signed", () => {
    const ask = (dnsNames: string[], addresses: string[]) => () =>
      leafTbs({
        issuer: root,
        publicKey: root.publicKey,
        dnsNames,
        addresses,
        serial: new Uint8Array(16).fill(9),
        notBeforeMs: root.notBeforeMs,
      });
    expect(ask(["bank.example.com"], [])).toThrow("the zone CA certifies only local names");
    expect(ask(["home.lan"], ["8.8.8.8"])).toThrow("the zone CA certifies only private addresses");
    expect(ask([], [])).toThrow("at least one");
  });
});
