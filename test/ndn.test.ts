/** Named data: put on one device, get from another, verified; curl by id; tampering caught. */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { createHash, randomBytes } from "node:crypto";
import { existsSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import type { ObjectId } from "../protocol/ndn.ts";
import {
  answeredOnceHeld,
  bucky,
  buckyJson,
  cleanUp,
  type Daemon,
  enableGateway,
  jsonError,
  newHomePath,
  scratchDir,
  startZone,
} from "./harness.ts";

afterAll(cleanUp);

let alpha: Daemon;
let beta: Daemon;
let gamma: Daemon;
const dir = scratchDir();
const big = join(dir, "big.bin");
const small = join(dir, "small.txt");

beforeAll(async () => {
  const zone = await startZone(["alpha", "beta", "gamma"]);
  alpha = zone.get("alpha") as Daemon;
  beta = zone.get("beta") as Daemon;
  gamma = zone.get("gamma") as Daemon;
  writeFileSync(big, randomBytes(9 * 1024 * 1024 + 123));
  writeFileSync(small, "a small file\n");
});

describe("bucky put", () => {
  test("names a small file by its sha256, a large one by its chunk list", async () => {
    const sha = createHash("sha256").update(readFileSync(small)).digest("hex");
    expect(await buckyJson(["put", small, "--home", alpha.home])).toEqual({
      id: `sha256:${sha}`,
      size: 13,
      public: false,
      copiedBy: [],
      notCopiedBy: [],
    });
    const large = await buckyJson<{ id: string; size: number }>(["put", big, "--home", alpha.home]);
    expect(large.id).toMatch(/^clist:[0-9a-f]{64}$/);
    expect(large.size).toBe(9 * 1024 * 1024 + 123);
    // The same content gets the same id.
    expect((await buckyJson<{ id: string }>(["put", big, "--home", alpha.home])).id).toBe(large.id);
  });

  test("needs a zone and a file", async () => {
    const noZone = await bucky(["put", small, "--home", newHomePath(), "--json"]);
    expect([noZone.exitCode, jsonError(noZone).code]).toEqual([1, "E_NO_ZONE"]);
    const noFile = await bucky(["put", join(dir, "absent"), "--home", alpha.home, "--json"]);
    expect([noFile.exitCode, jsonError(noFile).code]).toEqual([1, "E_NOT_FOUND"]);
  });
});

describe("bucky get", () => {
  test("fetches a file another device stored, byte for byte", async () => {
    const { id } = await buckyJson<{ id: string }>(["put", big, "--home", alpha.home]);
    const out = join(scratchDir(), "copy.bin");
    expect(await buckyJson(["get", id, "-o", out, "--home", beta.home])).toEqual({
      id,
      size: 9 * 1024 * 1024 + 123,
      path: out,
    });
    expect(Buffer.compare(readFileSync(out), readFileSync(big))).toBe(0);
  });

  test("refuses to overwrite, and says when nobody has the id", async () => {
    const { id } = await buckyJson<{ id: string }>(["put", small, "--home", alpha.home]);
    const taken = await bucky(["get", id, "-o", small, "--home", beta.home, "--json"]);
    expect([taken.exitCode, jsonError(taken).code]).toEqual([1, "E_EXISTS"]);
    const unknown = await bucky([
      "get",
      `sha256:${"0".repeat(64)}`,
      "-o",
      join(scratchDir(), "x"),
      "--home",
      beta.home,
      "--json",
    ]);
    expect([unknown.exitCode, jsonError(unknown).code]).toEqual([1, "E_NOT_FOUND"]);
    const malformed = await bucky([
      "get",
      "nonsense",
      "-o",
      join(scratchDir(), "x"),
      "--home",
      beta.home,
      "--json",
    ]);
    expect([malformed.exitCode, jsonError(malformed).code]).toEqual([2, "E_INVALID_INPUT"]);
  });

  test("a chunk altered on the serving device is an integrity error, and nothing is written", async () => {
    const content = join(scratchDir(), "altered.bin");
    writeFileSync(content, randomBytes(5 * 1024 * 1024));
    const { id } = await buckyJson<{ id: string }>(["put", content, "--home", alpha.home]);
    // Flip a byte of the second chunk in alpha's store.
    const chunkDir = join(alpha.home, "ndn", "chunks");
    const second = readFileSync(content).subarray(4 * 1024 * 1024);
    const hex = createHash("sha256").update(second).digest("hex");
    const chunkFile = join(chunkDir, hex.slice(0, 2), hex);
    const bytes = readFileSync(chunkFile);
    bytes[10] = (bytes[10] as number) ^ 0xff;
    writeFileSync(chunkFile, bytes);

    const outDir = scratchDir();
    const result = await bucky([
      "get",
      id,
      "-o",
      join(outDir, "out.bin"),
      "--home",
      beta.home,
      "--json",
    ]);
    expect(result.exitCode).toBe(4);
    expect(jsonError(result).code).toBe("E_INTEGRITY");
    expect(jsonError(result).message).toContain("failed verification");
    expect(readdirSync(outDir)).toEqual([]);
    expect(existsSync(join(outDir, "out.bin"))).toBe(false);
  });
});

describe("GET /ndn/<id>", () => {
  test("serves a file by id with cyfs headers and byte ranges, to any HTTP client", async () => {
    const { id } = await buckyJson<{ id: string }>(["put", big, "--home", alpha.home]);
    const url = `${alpha.addresses[0]}/ndn/${id}`;
    const whole = await fetch(url, { tls: { rejectUnauthorized: false } });
    expect(whole.status).toBe(200);
    expect(whole.headers.get("cyfs-obj-id")).toBe(id);
    expect(whole.headers.get("cyfs-obj-size")).toBe(String(9 * 1024 * 1024 + 123));
    expect(Buffer.compare(Buffer.from(await whole.arrayBuffer()), readFileSync(big))).toBe(0);

    // A range across the boundary between the first and second chunk.
    const from = 4 * 1024 * 1024 - 5;
    const part = await fetch(url, {
      headers: { range: `bytes=${from}-${from + 9}` },
      tls: { rejectUnauthorized: false },
    });
    expect(part.status).toBe(206);
    expect(part.headers.get("content-range")).toBe(
      `bytes ${from}-${from + 9}/${9 * 1024 * 1024 + 123}`,
    );
    expect(
      Buffer.compare(
        Buffer.from(await part.arrayBuffer()),
        readFileSync(big).subarray(from, from + 10),
      ),
    ).toBe(0);

    const missing = await fetch(`${alpha.addresses[0]}/ndn/sha256:${"1".repeat(64)}`, {
      tls: { rejectUnauthorized: false },
    });
    expect(missing.status).toBe(404);
  });
});

// Last: it kills alpha.
describe("bucky get with a device that held the file gone", () => {
  test("fetches it from another device that holds it, byte for byte", async () => {
    const content = join(scratchDir(), "twice.bin");
    writeFileSync(content, randomBytes(9 * 1024 * 1024));
    const { id } = await buckyJson<{ id: string }>(["put", content, "--home", alpha.home]);
    expect(await buckyJson(["put", content, "--home", gamma.home])).toMatchObject({ id });
    await alpha.kill();
    const out = join(scratchDir(), "twice-copy.bin");
    expect(await buckyJson(["get", id, "-o", out, "--home", beta.home])).toMatchObject({ id });
    expect(Buffer.compare(readFileSync(out), readFileSync(content))).toBe(0);
  });
});

// After the one above: alpha is gone.
describe("a public file whose device went away", () => {
  let url: string;
  beforeAll(async () => {
    url = await enableGateway(beta.home);
  });

  test("put says so when no other gateway holds a copy within its bound", async () => {
    process.kill(beta.pid, "SIGSTOP");
    try {
      const put = await bucky(["put", small, "--public", "--json", "--home", gamma.home]);
      expect(put.exitCode).toBe(0);
      expect(JSON.parse(put.stdout)).toMatchObject({ copiedBy: [], notCopiedBy: ["beta"] });
      expect(put.stderr).toContain("No other gateway holds a copy");
    } finally {
      process.kill(beta.pid, "SIGCONT");
    }
  });

  test("is served by the zone's gateway, which held a copy of it before put answered", async () => {
    const content = join(scratchDir(), "poster.bin");
    writeFileSync(content, randomBytes(5 * 1024 * 1024));
    // The gateway paused while gamma makes the file public: put must not answer until
    // the gateway, let go, has copied it.
    const put = await answeredOnceHeld(
      [beta],
      () =>
        buckyJson<{ id: ObjectId; copiedBy: string[]; notCopiedBy: string[] }>([
          "put",
          content,
          "--public",
          "--home",
          gamma.home,
        ]),
      { what: "gamma to make the file public", seen: () => /object made public/.test(gamma.log()) },
    );
    expect([put.copiedBy, put.notCopiedBy]).toEqual([["beta"], []]);
    // Gone the moment put answered, as a laptop closed then.
    await gamma.kill();
    const response = await fetch(`${url}/ndn/${put.id}`);
    expect(response.status).toBe(200);
    expect(Buffer.compare(Buffer.from(await response.arrayBuffer()), readFileSync(content))).toBe(
      0,
    );
  });
});
