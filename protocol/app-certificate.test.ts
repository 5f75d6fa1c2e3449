import { describe, expect, test } from "bun:test";
import {
  appCertificate,
  MAX_APP_CERTIFICATE_BYTES,
  readAppCertificate,
} from "./app-certificate.ts";
import { signingKeyFromSeed } from "./ed25519.ts";
import { toHex } from "./encoding.ts";
import type { AppName } from "./names.ts";
import { certificatePem, deviceCertificate, pinnedTls, privateKeyPem } from "./tls-cert.ts";

const seed = new Uint8Array(32).fill(7);
const key = signingKeyFromSeed(seed);
const otherKey = signingKeyFromSeed(new Uint8Array(32).fill(8));
const notes = "notes" as AppName;
const der = appCertificate(key, notes);

describe("appCertificate", () => {
  test("is a function of the key and the app alone", () => {
    expect(appCertificate(signingKeyFromSeed(seed.slice()), notes)).toEqual(der);
    expect(appCertificate(otherKey, notes)).not.toEqual(der);
    expect(appCertificate(key, "photos" as AppName)).not.toEqual(der);
  });

  test("stays under the size limit for the longest name", () => {
    const longest = `a${"b".repeat(62)}` as AppName;
    expect(appCertificate(key, longest).length).toBeLessThan(MAX_APP_CERTIFICATE_BYTES);
    expect(readAppCertificate(appCertificate(key, longest))?.app).toBe(longest);
    expect(readAppCertificate(appCertificate(key, "a" as AppName))?.app).toBe("a" as AppName);
  });
});

describe("readAppCertificate", () => {
  test("gives the key and the app of a certificate", () => {
    const holder = readAppCertificate(der);
    expect(holder && { key: toHex(holder.publicKey), app: holder.app }).toEqual({
      key: toHex(key.publicKey),
      app: notes,
    });
  });

  test("refuses a device certificate (it names no app)", () => {
    expect(readAppCertificate(deviceCertificate(key))).toBeUndefined();
  });

  test("refuses the certificate with a byte missing or added, and nothing at all", () => {
    expect(readAppCertificate(der.subarray(0, der.length - 1))).toBeUndefined();
    const longer = new Uint8Array(der.length + 1);
    longer.set(der);
    expect(readAppCertificate(longer)).toBeUndefined();
    expect(readAppCertificate(new Uint8Array())).toBeUndefined();
  });

  test("refuses a certificate whose key or app was swapped in but whose signature was not", () => {
    const keySwapped = der.slice();
    const keyAt = toHex(der).indexOf(toHex(key.publicKey)) / 2;
    keySwapped.set(otherKey.publicKey, keyAt);
    expect(readAppCertificate(keySwapped)).toBeUndefined();
    const appSwapped = der.slice();
    const appAt = toHex(der).indexOf(toHex(new TextEncoder().encode("notes"))) / 2;
    appSwapped.set(new TextEncoder().encode("nodes"), appAt);
    expect(readAppCertificate(appSwapped)).toBeUndefined();
  });

  test("refuses every single-byte change, at every position", () => {
    const accepted: string[] = [];
    for (let index = 0; index < der.length; index++) {
      for (const mask of [0x01, 0x80, 0xff]) {
        const changed = der.slice();
        changed[index] = (changed[index] as number) ^ mask;
        if (readAppCertificate(changed)) accepted.push(`byte ${index} ^ ${mask}`);
      }
    }
    expect(accepted).toEqual([]);
  });

  test("refuses a certificate for a name that is not an app's", () => {
    // Made as the template would be, but the name breaks the rules (upper case).
    expect(readAppCertificate(appCertificate(key, "Notes" as AppName))).toBeUndefined();
  });
});

describe("over TLS, between Bun's fetch and Bun.listen", () => {
  const device = signingKeyFromSeed(new Uint8Array(32).fill(1));
  const deviceCert = certificatePem(deviceCertificate(device));
  const devicePem = privateKeyPem(new Uint8Array(32).fill(1));

  /** A listener that answers each request with the app its connection's certificate names. */
  function listen(seen: string[]) {
    return Bun.listen<{ app: string }>({
      hostname: "127.0.0.1",
      port: 0,
      tls: { cert: deviceCert, key: devicePem, requestCert: true, rejectUnauthorized: false },
      socket: {
        handshake(socket) {
          const raw = socket.getPeerCertificate()?.raw;
          const holder = raw ? readAppCertificate(new Uint8Array(raw)) : undefined;
          socket.data = { app: holder ? holder.app : "none" };
          seen.push(socket.data.app);
        },
        data(socket, chunk) {
          const requests = chunk.toString("latin1").split("\r\n\r\n").length - 1;
          const app = socket.data.app;
          for (let i = 0; i < requests; i++)
            socket.write(`HTTP/1.1 200 OK\r\ncontent-length: ${app.length}\r\n\r\n${app}`);
        },
      },
    });
  }

  const tlsFor = (app: string) => ({
    ...pinnedTls(deviceCert),
    cert: certificatePem(appCertificate(key, app as AppName)),
    key: privateKeyPem(seed),
  });

  test("the device reads the app from the client certificate", async () => {
    const seen: string[] = [];
    const server = listen(seen);
    try {
      const url = `https://127.0.0.1:${server.port}/`;
      const answer = await fetch(url, { tls: tlsFor("notes") } as RequestInit);
      expect(await answer.text()).toBe("notes");
      expect(seen).toEqual(["notes"]);
    } finally {
      server.stop(true);
    }
  });

  test("fetch keeps each app's connections apart, so no request reaches another app", async () => {
    const seen: string[] = [];
    const server = listen(seen);
    try {
      const url = `https://127.0.0.1:${server.port}/`;
      const apps = ["notes", "photos", "notes", "mail"];
      const wrong: string[] = [];
      for (let round = 0; round < 20; round++) {
        const answers = await Promise.all(
          apps.map((app) =>
            fetch(url, { tls: tlsFor(app) } as RequestInit).then((response) => response.text()),
          ),
        );
        answers.forEach((answer, i) => {
          if (answer !== apps[i]) wrong.push(`${apps[i]} answered by ${answer}`);
        });
      }
      expect(wrong).toEqual([]);
      // Connections were reused, not opened per request (80 requests).
      expect(seen.length).toBeLessThan(20);
      expect(new Set(seen)).toEqual(new Set(["notes", "photos", "mail"]));
    } finally {
      server.stop(true);
    }
  });
});
