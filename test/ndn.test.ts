/** Named data: put on one device, get from another, verified; curl by id; tampering caught. */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { createHash, randomBytes } from "node:crypto";
import { copyFileSync, existsSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { requestDaemon } from "../lib/node/daemon-client.ts";
import type { ObjectId } from "../protocol/ndn.ts";
import { PUBLIC_BUDGET_KEY, signBudget } from "../protocol/zone-budget.ts";
import {
  answeredOnceHeld,
  BUCKY,
  bucky,
  buckyJson,
  chunkPath,
  cleanUp,
  type Daemon,
  enableGateway,
  jsonError,
  newHomePath,
  scratchDir,
  startDaemon,
  startZone,
  storeChunkAlone,
  waitFor,
} from "./harness.ts";
import { actAs } from "./member.ts";

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
    const put = await buckyJson<{ copiedBy: string[]; notCopiedBy: string[] }>([
      "put",
      small,
      "--home",
      alpha.home,
    ]);
    expect(put).toMatchObject({ id: `sha256:${sha}`, size: 13, public: false, recorded: true });
    // Answered once another device holds a copy; the other may still be copying it.
    expect(put.copiedBy.length).toBeGreaterThan(0);
    expect([...put.copiedBy, ...put.notCopiedBy].sort()).toEqual(["beta", "gamma"]);
    const large = await buckyJson<{ id: string; size: number }>(["put", big, "--home", alpha.home]);
    expect(large.id).toMatch(/^clist:[0-9a-f]{64}$/);
    expect(large.size).toBe(9 * 1024 * 1024 + 123);
    // The same content gets the same id.
    expect((await buckyJson<{ id: string }>(["put", big, "--home", alpha.home])).id).toBe(large.id);
  });

  test("is recorded without waiting for a copy one way only, `?wait=false`, and says so", async () => {
    const file = join(scratchDir(), "once.txt");
    writeFileSync(file, "recorded, then recorded again\n");
    const { id } = await buckyJson<{ id: string }>(["put", file, "--home", alpha.home]);
    const record = (path: string, body: Record<string, unknown>) =>
      requestDaemon<Record<string, unknown>>(alpha.home, "POST", path, { id, ...body });
    // The body's `wait: false` was a second way, whose answer named no copy and did not
    // say it had not waited: as if no other device were there to copy it.
    const waited = await record("/v1/ndn/files", { name: "once.txt", wait: false });
    expect(waited.waited).toBeUndefined();
    expect((waited.copiedBy as string[]).length).toBeGreaterThan(0);
    expect(await record("/v1/ndn/files?wait=false", { name: "once.txt" })).toMatchObject({
      copiedBy: [],
      notCopiedBy: [],
      waited: false,
    });
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
    // Only in alpha's store, and altered there: a file put would be copied whole to beta.
    const bytes = randomBytes(1024 * 1024);
    const id = storeChunkAlone(alpha.home, bytes);
    const chunkFile = chunkPath(alpha.home, id);
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

describe("bucky get, interrupted or raced", () => {
  /** `bucky get id -o out` on alpha, started: beta alone holds `id`. */
  const getOnAlpha = (id: string, out: string) =>
    Bun.spawn([BUCKY, "get", id, "-o", out, "--home", alpha.home, "--json"], {
      stdout: "pipe",
      stderr: "pipe",
      env: { PATH: process.env.PATH ?? "/usr/bin:/bin", HOME: scratchDir() },
    });

  test("Ctrl-C leaves no partial file; a file that took the name meanwhile is not written over", async () => {
    const id = storeChunkAlone(beta.home, new Uint8Array(randomBytes(100_000)));
    const dir = scratchDir();
    const partials = () => readdirSync(dir).filter((name) => name.endsWith(".bucky-partial"));
    const writing = () =>
      waitFor("the fetch's file", () => (partials().length > 0 ? true : undefined));
    // beta is stopped: each fetch waits for it, its file begun.
    process.kill(beta.pid, "SIGSTOP");
    let raced: ReturnType<typeof getOnAlpha>;
    try {
      const interrupted = getOnAlpha(id, join(dir, "a.bin"));
      await writing();
      interrupted.kill("SIGINT");
      expect(await interrupted.exited).toBe(130);
      expect(readdirSync(dir)).toEqual([]);
      raced = getOnAlpha(id, join(dir, "b.bin"));
      await writing();
      writeFileSync(join(dir, "b.bin"), "mine\n");
    } finally {
      process.kill(beta.pid, "SIGCONT");
    }
    const [code, stdout, stderr] = await Promise.all([
      raced.exited,
      new Response(raced.stdout).text(),
      new Response(raced.stderr).text(),
    ]);
    const refused = jsonError({ exitCode: code, signal: null, stdout, stderr });
    expect([code, refused.code]).toEqual([1, "E_EXISTS"]);
    expect(refused.message).toContain("appeared while the file was fetched");
    expect(readFileSync(join(dir, "b.bin"), "utf8")).toBe("mine\n");
    expect(readdirSync(dir)).toEqual(["b.bin"]);
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
/** beta's gateway, made in the describe below; and the 5 MiB file it serves publicly. */
let url: string;
let posterId: ObjectId;

describe("a public file whose device went away", () => {
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
    posterId = put.id;
    // Gone the moment put answered, as a laptop closed then.
    await gamma.kill();
    const response = await fetch(`${url}/ndn/${put.id}`);
    expect(response.status).toBe(200);
    expect(Buffer.compare(Buffer.from(await response.arrayBuffer()), readFileSync(content))).toBe(
      0,
    );
  });
});

// After the one above: alpha and gamma are gone, beta is the gateway; gamma comes back.
describe("the zone's budget for public files", () => {
  beforeAll(async () => {
    gamma = await startDaemon(gamma.home);
    // The budget is the owner's to set: beta is given the owner key (as `bucky zone
    // owner-key` does), and restarted to use it.
    copyFileSync(
      join(alpha.home, "identity", "owner.key"),
      join(beta.home, "identity", "owner.key"),
    );
    await beta.stop();
    beta = await startDaemon(beta.home);
  });

  /** Sets the budget on beta, and waits until gamma has it too. */
  async function budget(bytes: number): Promise<void> {
    const key = "system/public-budget";
    await buckyJson(["state", "set", key, String(bytes), "--home", beta.home]);
    await waitFor(`gamma to have a budget of ${bytes} bytes`, async () => {
      const { value } = await buckyJson<{ value: { bytes?: unknown } }>([
        "state",
        "get",
        key,
        "--home",
        gamma.home,
      ]);
      return value.bytes === bytes || undefined;
    });
  }
  const publicKeys = async (home: string) =>
    (
      await buckyJson<{ entries: { key: string }[] }>([
        "state",
        "list",
        "system/public/",
        "--home",
        home,
      ])
    ).entries.map((entry) => entry.key);
  const budgetWarnings = async (home: string) =>
    (await buckyJson<{ warnings: string[] }>(["status", "--home", home])).warnings.filter((w) =>
      w.includes("budget for public files"),
    );

  test("a file that would take the public files past it is refused, and kept where it was put", async () => {
    const before = await publicKeys(gamma.home);
    // 13 bytes and 5 MiB are public already.
    await budget(6_000_000);
    const file = join(scratchDir(), "one-too-many.bin");
    writeFileSync(file, randomBytes(1024 * 1024));
    const put = await bucky(["put", file, "--public", "--json", "--home", gamma.home]);
    expect([put.exitCode, jsonError(put).code]).toEqual([2, "E_TOO_LARGE"]);
    expect(jsonError(put).message).toContain(
      "would take the zone's public files past their budget",
    );
    expect(await publicKeys(gamma.home)).toEqual(before);
    expect(await publicKeys(beta.home)).toEqual(before);
  });

  test("past it, a file is served by no gateway and every device says so; within it again, served", async () => {
    await budget(5_000_000);
    const warning =
      "1 public file (5.0 MiB) is past the zone's budget for public files (4.8 MiB): no gateway copies or serves it; make some private with `bucky rm --public <id>`, or raise the budget with `bucky state set system/public-budget <bytes>` on a device holding the owner key";
    expect(await budgetWarnings(gamma.home)).toEqual([warning]);
    await waitFor("beta to say so too", async () =>
      (await budgetWarnings(beta.home)).join() === warning ? true : undefined,
    );
    expect((await fetch(`${url}/ndn/${posterId}`)).status).toBe(404);
    await budget(6_000_000);
    await waitFor("beta to serve it again", async () =>
      (await fetch(`${url}/ndn/${posterId}`)).status === 200 ? true : undefined,
    );
    expect(await budgetWarnings(beta.home)).toEqual([]);
  });

  test("a member cannot set it: refused at bucky state set, and on apply by every device", async () => {
    // Within the budget (the test before set it): served.
    expect((await fetch(`${url}/ndn/${posterId}`)).status).toBe(200);
    const refused = await bucky([
      ...["state", "set", "system/public-budget", "0", "--json", "--home", gamma.home],
    ]);
    expect([refused.exitCode, jsonError(refused)]).toEqual([
      1,
      {
        code: "E_PERMISSION",
        message:
          "system/public-budget is the owner's to set: a budget must be signed by the owner key, which this device does not hold, and every device refuses one the owner did not sign",
        hint: "Set it on a device holding the owner key (the one the zone was created on), or give this one the key first (`bucky zone owner-key < phrase.txt`, then restart its daemon).",
      },
    ]);
    // Gamma's changeset of its own making, a plain 0 or one it signed, is refused by beta.
    const member = await actAs(gamma.home);
    for (const value of [
      "0",
      JSON.stringify(
        signBudget({
          key: PUBLIC_BUDGET_KEY,
          zone: member.zone,
          bytes: 0,
          atMs: Date.now(),
          owner: member.key,
        }),
      ),
    ]) {
      const forged = member.changeset([{ key: "system/public-budget", value }]);
      expect((await member.push(beta, [forged.bytes])).applied).toBe(0);
    }
    expect((await fetch(`${url}/ndn/${posterId}`)).status).toBe(200);
    expect(await budgetWarnings(beta.home)).toEqual([]);
  });

  test("a budget cannot be deleted, even on a device holding the owner key: the owner sets another", async () => {
    for (const [key, what, bytes] of [
      ["system/public-budget", "public files", "8589934592 (8.0 GiB)"],
      ["system/files-budget", "stored files", "34359738368 (32.0 GiB)"],
    ] as const) {
      const refused = await bucky(["state", "del", key, "--json", "--home", beta.home]);
      expect([refused.exitCode, jsonError(refused)]).toEqual([
        1,
        {
          code: "E_PERMISSION",
          message: `${key} cannot be deleted: the zone always has a budget for ${what} (its default until the owner sets one), and every device refuses its deletion`,
          hint: `The owner sets another instead, on a device holding the owner key: \`bucky state set ${key} <bytes>\` (the default is ${bytes}).`,
        },
      ]);
    }
    expect((await fetch(`${url}/ndn/${posterId}`)).status).toBe(200);
  });

  test("a record that says a file is smaller than it is gets no copy, and is not served", async () => {
    // One chunk (no chunk list says its size before it is fetched), on gamma alone.
    const id = storeChunkAlone(gamma.home, randomBytes(1024 * 1024));
    // As a member may write it by hand: 10 bytes, well within the budget.
    const from = beta.log().length;
    await buckyJson([
      "state",
      "set",
      `system/public/${id}`,
      JSON.stringify({ size: 10, at: new Date().toISOString() }),
      "--home",
      gamma.home,
    ]);
    const said = await waitFor(
      "beta to copy it, or to refuse",
      () =>
        beta
          .log()
          .slice(from)
          .split("\n")
          .find(
            (line) => line.includes(id) && /public object (?:copied|not copied yet)/.test(line),
          ),
      15_000,
    );
    expect(said).toContain("larger than an object made public as 10 bytes can be");
    expect((await fetch(`${url}/ndn/${id}`)).status).not.toBe(200);
  });
});
