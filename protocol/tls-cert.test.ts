import { describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { signingKeyFromSeed } from "./ed25519.ts";
import { toHex } from "./encoding.ts";
import {
  CERTIFICATE_BYTES,
  certificateDer,
  certificatePem,
  deviceCertificate,
  isDeviceCertificate,
  privateKeyPem,
} from "./tls-cert.ts";

const seed = new Uint8Array(32).fill(7);
const key = signingKeyFromSeed(seed);
const otherKey = signingKeyFromSeed(new Uint8Array(32).fill(8));
const der = deviceCertificate(key);

describe("deviceCertificate", () => {
  test("is a function of the key alone", () => {
    expect(der.length).toBe(CERTIFICATE_BYTES);
    expect(deviceCertificate(signingKeyFromSeed(seed.slice()))).toEqual(der);
    expect(deviceCertificate(otherKey)).not.toEqual(der);
  });

  test("holds the public key right after the fixed TBS prefix", () => {
    expect(toHex(der.subarray(0, 3))).toBe("3081ce");
    expect(toHex(der.subarray(91, 103))).toBe("302a300506032b6570032100");
    expect(der.subarray(103, 135)).toEqual(key.publicKey);
    expect(toHex(der.subarray(135, 145))).toBe("300506032b6570034100");
  });
});

describe("isDeviceCertificate", () => {
  test("accepts the certificate of the given key", () => {
    expect(isDeviceCertificate(der, key.publicKey)).toBe(true);
  });

  test("refuses another key's certificate, either way round", () => {
    expect(isDeviceCertificate(deviceCertificate(otherKey), key.publicKey)).toBe(false);
    expect(isDeviceCertificate(der, otherKey.publicKey)).toBe(false);
  });

  test("refuses the certificate with a byte missing or added", () => {
    expect(isDeviceCertificate(der.subarray(0, CERTIFICATE_BYTES - 1), key.publicKey)).toBe(false);
    const longer = new Uint8Array(CERTIFICATE_BYTES + 1);
    longer.set(der);
    expect(isDeviceCertificate(longer, key.publicKey)).toBe(false);
    expect(isDeviceCertificate(new Uint8Array(), key.publicKey)).toBe(false);
  });

  test("refuses a certificate whose key was swapped in but whose signature was not", () => {
    const forged = der.slice();
    forged.set(otherKey.publicKey, 103);
    expect(isDeviceCertificate(forged, otherKey.publicKey)).toBe(false);
  });

  test("refuses every single-byte change, at every position", () => {
    const accepted: string[] = [];
    for (let index = 0; index < der.length; index++) {
      for (const mask of [0x01, 0x80, 0xff]) {
        const changed = der.slice();
        changed[index] = (changed[index] as number) ^ mask;
        if (isDeviceCertificate(changed, key.publicKey)) accepted.push(`byte ${index} ^ ${mask}`);
      }
    }
    expect(accepted).toEqual([]);
  });
});

describe("PEM", () => {
  test("a certificate round-trips through PEM", () => {
    const pem = certificatePem(der);
    expect(pem).toMatch(
      /^-----BEGIN CERTIFICATE-----\n(?:[A-Za-z0-9+/]{64}\n)*[A-Za-z0-9+/=]{1,64}\n-----END CERTIFICATE-----\n$/,
    );
    expect(certificateDer(pem)).toEqual(der);
    expect(certificateDer(pem.trimEnd())).toEqual(der);
  });

  test("certificateDer refuses what is not a PEM certificate", () => {
    const pem = certificatePem(der);
    expect(certificateDer("")).toBeUndefined();
    expect(certificateDer(pem.replaceAll("CERTIFICATE", "PRIVATE KEY"))).toBeUndefined();
    expect(certificateDer(`junk\n${pem}`)).toBeUndefined();
    expect(certificateDer(pem.replace("\n", "\n!"))).toBeUndefined();
  });

  test("the private key is the seed behind the Ed25519 PKCS#8 prefix", () => {
    const pem = privateKeyPem(seed);
    expect(pem.startsWith("-----BEGIN PRIVATE KEY-----\n")).toBe(true);
    expect(pem.endsWith("\n-----END PRIVATE KEY-----\n")).toBe(true);
    const body = pem.split("\n").slice(1, -2).join("");
    expect(toHex(new Uint8Array(Buffer.from(body, "base64")))).toBe(
      `302e020100300506032b657004220420${toHex(seed)}`,
    );
  });

  test("openssl parses the certificate and verifies it as self-signed", () => {
    if (!Bun.which("openssl")) {
      console.warn("openssl is not on PATH: not checking that it parses the certificate");
      return;
    }
    const parse = Bun.spawnSync(["openssl", "x509", "-noout", "-text"], {
      stdin: Buffer.from(certificatePem(der)),
    });
    expect({ exitCode: parse.exitCode, stderr: parse.stderr.toString() }).toEqual({
      exitCode: 0,
      stderr: "",
    });
    const text = parse.stdout.toString();
    expect(text).toContain("Version: 3 (0x2)");
    expect(text).toContain("Serial Number: 1 (0x1)");
    expect(text).toMatch(/Issuer: CN ?= ?bucky\n/);
    expect(text).toMatch(/Subject: CN ?= ?bucky\n/);
    expect(text).toContain("Not Before: Jan  1 00:00:00 2000 GMT");
    expect(text).toContain("Not After : Dec 31 23:59:59 9999 GMT");
    expect(text.match(/Algorithm: ED25519/g)?.length).toBe(3);
    const keyHex = toHex(key.publicKey).replace(/(..)(?!$)/g, "$1:");
    expect(text.replace(/\s+/g, "")).toContain(`pub:${keyHex}`);

    const dir = mkdtempSync(join(tmpdir(), "bucky-cert-"));
    try {
      const file = join(dir, "cert.pem");
      writeFileSync(file, certificatePem(der));
      const verify = Bun.spawnSync(["openssl", "verify", "-CAfile", file, file]);
      expect(verify.stdout.toString()).toBe(`${file}: OK\n`);
      expect(verify.exitCode).toBe(0);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
