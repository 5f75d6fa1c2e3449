/**
 * What `bucky join` makes of whatever answers at the inviting device's address before
 * anything is checked: its certificate answer is read within a bound as it arrives, and a
 * too-large or broken one is a clear refusal, not the CLI's memory.
 */
import { afterAll, describe, expect, test } from "bun:test";
import { readdirSync } from "node:fs";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { signDeviceDocument } from "../../protocol/documents.ts";
import { signingKeyFromSeed } from "../../protocol/ed25519.ts";
import { fromBase64url } from "../../protocol/encoding.ts";
import { deviceIdFromPublicKey } from "../../protocol/ids.ts";
import { signInvite } from "../../protocol/invite.ts";
import { encodeJoinAnswer } from "../../protocol/join.ts";
import type { DeviceName } from "../../protocol/names.ts";
import { certificatePem, deviceCertificate, privateKeyPem } from "../../protocol/tls-cert.ts";
import { BuckyError } from "../errors.ts";
import { createLog } from "../log.ts";
import { joinZone, MAX_CERT_ANSWER_BYTES } from "./join.ts";

const owner = signingKeyFromSeed(new Uint8Array(32).fill(1));
const inviterSeed = new Uint8Array(32).fill(2);
const inviterKey = signingKeyFromSeed(inviterSeed);
/** Whatever answers at the address: any certificate, since it is not trusted yet. */
const otherSeed = new Uint8Array(32).fill(3);
const tls = {
  cert: certificatePem(deviceCertificate(signingKeyFromSeed(otherSeed))),
  key: privateKeyPem(otherSeed),
};
/** How many bytes the hostile server was asked for, per path. */
const pulled: Record<string, number> = {};
/** Without end but for this, so that a reader with no bound finishes (and the test fails). */
const HOSTILE_TOTAL_BYTES = 256 * 1024 * 1024;
const CHUNK = new Uint8Array(64 * 1024).fill(0x41);

function endless(path: string): ReadableStream<Uint8Array> {
  pulled[path] = 0;
  return new ReadableStream({
    pull(controller) {
      if ((pulled[path] ?? 0) >= HOSTILE_TOTAL_BYTES) return controller.close();
      pulled[path] = (pulled[path] ?? 0) + CHUNK.length;
      controller.enqueue(CHUNK);
    },
  });
}

const servers = ["endless", "says-large", "broken", "refusing"].map((kind) =>
  Bun.serve({
    hostname: "127.0.0.1",
    port: 0,
    tls,
    fetch() {
      if (kind === "endless") return new Response(endless(kind));
      if (kind === "says-large")
        return new Response(endless(kind), {
          headers: { "content-length": String(HOSTILE_TOTAL_BYTES) },
        });
      if (kind === "refusing") return new Response("no", { status: 500 });
      // Half a certificate, then the connection cut.
      return new Response(
        new ReadableStream({
          start(controller) {
            controller.enqueue(new TextEncoder().encode("-----BEGIN CERTIFICATE-----\nMIIB"));
            controller.error(new Error("cut"));
          },
        }),
      );
    },
  }),
);
const [endlessServer, saysLarge, broken, refusing] = servers as [
  ReturnType<typeof Bun.serve>,
  ReturnType<typeof Bun.serve>,
  ReturnType<typeof Bun.serve>,
  ReturnType<typeof Bun.serve>,
];
afterAll(() => {
  for (const server of servers) server.stop(true);
});

const homes: string[] = [];
afterAll(async () => {
  for (const home of homes) await rm(home, { recursive: true, force: true });
});

async function joinAt(address: string): Promise<BuckyError> {
  const home = await mkdtemp(join(tmpdir(), "bucky-join-"));
  homes.push(home);
  const now = Date.now();
  const token = signInvite(
    {
      inviter: deviceIdFromPublicKey(inviterKey.publicKey),
      id: Buffer.from(new Uint8Array(16).fill(7)).toString("base64url"),
      secret: new Uint8Array(32).fill(8),
      expiresAt: Math.floor(now / 1000) + 600,
      addresses: [address],
    },
    owner,
  );
  try {
    await joinZone({
      home: join(home, "node"),
      token,
      deviceName: "laptop" as DeviceName,
      now: () => Date.now(),
      log: createLog({ level: "silent" }),
    });
  } catch (error) {
    if (error instanceof BuckyError) return error;
    throw error;
  }
  throw new Error("joined a zone through a hostile answer");
}

describe("bucky join, against what answers at the inviting device's address", () => {
  test("an answer without end stops being read past the bound", async () => {
    const error = await joinAt(`https://127.0.0.1:${endlessServer.port}`);
    expect(error.code).toBe("E_UNAVAILABLE");
    expect(error.message).toContain(
      `answered with more than ${MAX_CERT_ANSWER_BYTES} bytes, not a certificate`,
    );
    expect(error.hint).toContain("join from a network you trust");
    // What was read, and what the socket took ahead of it: far less than it had to send.
    expect(pulled.endless ?? 0).toBeLessThan(32 * 1024 * 1024);
  });

  test("an answer that says it is larger than a certificate is not read", async () => {
    const error = await joinAt(`https://127.0.0.1:${saysLarge.port}`);
    expect(error.code).toBe("E_UNAVAILABLE");
    expect(error.message).toContain(`answered with more than ${MAX_CERT_ANSWER_BYTES} bytes`);
    expect(pulled["says-large"] ?? 0).toBeLessThan(32 * 1024 * 1024);
  });

  test("an answer that breaks off is said as such", async () => {
    const error = await joinAt(`https://127.0.0.1:${broken.port}`);
    expect(error.code).toBe("E_UNAVAILABLE");
    expect(error.message).toMatch(
      new RegExp(`127\\.0\\.0\\.1:${broken.port}: (its answer broke off|the connection was cut)`),
    );
  });

  test("an error answer is said by its status", async () => {
    const error = await joinAt(`https://127.0.0.1:${refusing.port}`);
    expect(error.message).toContain(`127.0.0.1:${refusing.port}: answered HTTP 500`);
  });
});

/**
 * The inviting device as far as admitting: it signs the new device's document, then fails
 * every pull of the zone (its disk full, say), as one that died right after would.
 */
const admitsThenFails = Bun.serve({
  hostname: "127.0.0.1",
  port: 0,
  tls: {
    cert: certificatePem(deviceCertificate(inviterKey)),
    key: privateKeyPem(inviterSeed),
  },
  async fetch(request) {
    const path = new URL(request.url).pathname;
    if (path === "/v1/cert") return new Response(certificatePem(deviceCertificate(inviterKey)));
    if (path === "/v1/join") {
      const asked = (await request.json()) as { name: string; key: string };
      const document = signDeviceDocument(
        {
          name: asked.name as DeviceName,
          devicePublicKey: fromBase64url(asked.key) as Uint8Array,
          issuedAt: Math.floor(Date.now() / 1000),
        },
        owner,
      );
      return new Response(encodeJoinAnswer({ device: document.jws }));
    }
    return Response.json(
      { error: { code: "E_UNAVAILABLE", message: "the disk is full" } },
      { status: 503 },
    );
  },
});
afterAll(() => admitsThenFails.stop(true));

describe("bucky join, admitted and then failing", () => {
  test("says the zone lists the device now, and what to do about it", async () => {
    const error = await joinAt(`https://127.0.0.1:${admitsThenFails.port}`);
    expect(error.code).toBe("E_UNAVAILABLE");
    expect(error.message).toStartWith(
      "the zone admitted this device as laptop, then joining failed: ",
    );
    expect(error.message).toContain("the disk is full");
    expect(error.hint).toBe(
      "Run the same `bucky join` here again: it resumes as laptop, with the same invitation. Or, to give up on it, revoke laptop on a device holding the owner key (`bucky devices revoke laptop`).",
    );
    // What it resumes with: the key it was admitted with, and only that, left in the home
    // (beside the lock the join held while it made the home).
    const home = homes.at(-1) as string;
    expect(readdirSync(join(home, "node")).sort()).toEqual(["daemon.lock", "join.pending"]);
  });
});
