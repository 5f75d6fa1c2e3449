/**
 * Files stored with `bucky put` are the zone's: every device takes a copy, put answers once
 * another holds it, `bucky get` works with the storing device killed, `bucky rm` from any
 * device lets it go everywhere (a device away meanwhile does not bring it back), status
 * counts the files with fewer than two copies alike on every device, a member's lying
 * record makes no device fetch what it should not, and a copy that rots is found and fetched
 * again.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { createHash, randomBytes } from "node:crypto";
import { existsSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";

import { join } from "node:path";
import { CHUNK_BYTES } from "../protocol/ndn.ts";
import {
  answeredOnceHeld,
  bucky,
  buckyJson,
  chunkPath,
  cleanUp,
  type Daemon,
  jsonError,
  scratchDir,
  startDaemon,
  startZone,
  stateUnder,
  storeChunkAlone,
  waitFor,
} from "./harness.ts";

afterAll(cleanUp);

let alpha: Daemon;
let beta: Daemon;
let gamma: Daemon;
/** Each store's scrub reads it every second (every ten minutes by default). */
const ENV = { BUCKY_SCRUB_EVERY_MS: "1000" };

beforeAll(async () => {
  const zone = await startZone(["alpha", "beta", "gamma"], ENV);
  alpha = zone.get("alpha") as Daemon;
  beta = zone.get("beta") as Daemon;
  gamma = zone.get("gamma") as Daemon;
});

interface Put {
  id: string;
  size: number;
  recorded: boolean;
  copiedBy: string[];
  notCopiedBy: string[];
}

interface StoredFiles {
  files: number;
  fewerThanTwoCopies: number;
  pastBudget: number;
}

function file(name: string, bytes: number): string {
  const path = join(scratchDir(), name);
  writeFileSync(path, randomBytes(bytes));
  return path;
}

const storedFiles = async (home: string) =>
  (await buckyJson<{ storedFiles: StoredFiles }>(["status", "--home", home])).storedFiles;

/** Waits until `home`'s status counts the stored files as `want`. */
const untilStatus = (home: string, want: StoredFiles, timeoutMs = 15_000) =>
  waitFor(
    `${home} to count the stored files as ${JSON.stringify(want)}`,
    async () => {
      const { files, fewerThanTwoCopies, pastBudget } = await storedFiles(home);
      return JSON.stringify({ files, fewerThanTwoCopies, pastBudget }) === JSON.stringify(want)
        ? true
        : undefined;
    },
    timeoutMs,
  );

/** Writes a mark on `from`, and waits until `to` holds it (and so all `from` wrote before). */
async function markedAcross(from: Daemon, to: Daemon, what: string): Promise<void> {
  const key = `marks/${what}/${from.home.split("/").pop()}`;
  await buckyJson(["state", "set", key, "true", "--home", from.home]);
  await waitFor(`${key} to reach ${to.home}`, async () =>
    key in (await stateUnder(to.home, key)) ? true : undefined,
  );
}

describe("a file stored with bucky put", () => {
  test("is answered once another device holds it, and is had from another with the storing device killed", async () => {
    const content = file("photo.bin", 6 * 1024 * 1024 + 7);
    // The others paused as alpha stores it: put must not answer before one holds it.
    const put = await answeredOnceHeld(
      [beta, gamma],
      () => buckyJson<Put>(["put", content, "--home", alpha.home]),
      { what: "alpha to record the file", seen: () => /file stored in the zone/.test(alpha.log()) },
    );
    expect(put.recorded).toBe(true);
    expect(put.copiedBy.length).toBeGreaterThan(0);
    expect([...put.copiedBy, ...put.notCopiedBy].sort()).toEqual(["beta", "gamma"]);
    // Gone the moment put answered, its disk with it.
    await alpha.kill();
    const holder = put.copiedBy[0] === "beta" ? beta : gamma;
    const out = join(scratchDir(), "photo-copy.bin");
    expect(await buckyJson(["get", put.id, "-o", out, "--home", holder.home])).toMatchObject({
      id: put.id,
    });
    expect(Buffer.compare(readFileSync(out), readFileSync(content))).toBe(0);
    // Every device counts its copies alike: alpha's, beta's and gamma's.
    for (const daemon of [beta, gamma])
      await untilStatus(daemon.home, { files: 1, fewerThanTwoCopies: 0, pastBudget: 0 });
    alpha = await startDaemon(alpha.home, ENV);
  });

  test("that no other device could copy is said so, and counted with fewer than two copies on every device until one holds it", async () => {
    const content = file("draft.bin", 100_000);
    for (const daemon of [alpha, gamma]) process.kill(daemon.pid, "SIGSTOP");
    let put: Awaited<ReturnType<typeof bucky>>;
    try {
      put = await bucky(["put", content, "--json", "--home", beta.home]);
      expect(put.exitCode).toBe(0);
      expect(JSON.parse(put.stdout)).toMatchObject({
        recorded: true,
        copiedBy: [],
        notCopiedBy: ["alpha", "gamma"],
      });
      expect(put.stderr).toContain("No other device holds a copy");
      expect(await storedFiles(beta.home)).toMatchObject({ files: 2, fewerThanTwoCopies: 1 });
    } finally {
      for (const daemon of [alpha, gamma]) process.kill(daemon.pid, "SIGCONT");
    }
    for (const daemon of [alpha, beta, gamma])
      await untilStatus(daemon.home, { files: 2, fewerThanTwoCopies: 0, pastBudget: 0 });
    expect(
      (await buckyJson<{ warnings: string[] }>(["status", "--home", alpha.home])).warnings,
    ).toEqual([]);
  });
});

describe("a file made public in a zone without a gateway", () => {
  test("is said to be served by no one until a device is a gateway", async () => {
    const content = file("public.bin", 1000);
    const put = await bucky(["put", content, "--public", "--home", alpha.home]);
    expect(put.exitCode).toBe(0);
    // stdout is the id alone; it answered `public: true` and said nothing of who serves it.
    expect(put.stdout.trim()).toMatch(/^sha256:[0-9a-f]{64}$/);
    expect(put.stderr).toContain(
      "No device of the zone is a gateway: it is served to anyone at /ndn/",
    );
    await buckyJson(["rm", "--public", put.stdout.trim(), "--home", alpha.home]);
  });
});

describe("bucky rm of a stored file", () => {
  test("lets it go on every device, from any device; a device away meanwhile does not bring it back", async () => {
    const content = file("letter.bin", 200_000);
    const put = await buckyJson<Put>(["put", content, "--home", gamma.home]);
    expect(put.copiedBy.length).toBeGreaterThan(0);
    const key = `system/files/${put.id}`;
    await waitFor("beta to hold the record", async () =>
      key in (await stateUnder(beta.home, "system/files/")) ? true : undefined,
    );
    // gamma, which stored it, is away while beta lets it go.
    await gamma.kill();
    const removed = await buckyJson<{
      zoneWide: boolean;
      storedHere: boolean;
      heldElsewhere: string;
    }>(["rm", put.id, "--home", beta.home]);
    expect(removed).toMatchObject({ zoneWide: true, storedHere: false, heldElsewhere: "held" });
    gamma = await startDaemon(gamma.home, ENV);
    // gamma has heard of the release (written before beta's mark), and beta has whatever
    // gamma wrote on hearing it (written before gamma's mark).
    await markedAcross(beta, gamma, "after-rm");
    await markedAcross(gamma, beta, "after-rm");
    for (const daemon of [alpha, beta, gamma]) {
      expect(await stateUnder(daemon.home, key)).toEqual({});
      expect(await stateUnder(daemon.home, `nodes/gamma/files/${put.id}`)).toEqual({});
      await untilStatus(daemon.home, { files: 2, fewerThanTwoCopies: 0, pastBudget: 0 });
    }
    // Nothing of it is left to let go on gamma.
    const again = await bucky(["rm", put.id, "--json", "--home", gamma.home]);
    expect(again.exitCode).toBe(1);
  });

  test("is answered once another device holds the release", async () => {
    const content = file("note.bin", 30_000);
    const put = await buckyJson<Put>(["put", content, "--home", beta.home]);
    expect(put.copiedBy.length).toBeGreaterThan(0);
    const removed = await answeredOnceHeld(
      [alpha, gamma],
      () =>
        buckyJson<{ zoneWide: boolean; heldElsewhere: string }>([
          "rm",
          put.id,
          "--home",
          beta.home,
        ]),
      { what: "beta to let it go", seen: () => /stored file released/.test(beta.log()) },
    );
    expect(removed).toMatchObject({ zoneWide: true, heldElsewhere: "held" });
  });
});

/** Writes a record of a stored file as a member may, by hand, on beta. */
const recordByHand = (id: string, sizeBytes: number, at: string) =>
  buckyJson([
    "state",
    "set",
    `system/files/${id}`,
    JSON.stringify({ size: sizeBytes, at, name: "by hand" }),
    "--home",
    beta.home,
  ]);

/** The line of alpha's log that says of `id` what `said` matches, if any. */
const copyLine = (id: string, said = /stored file (?:copied|not copied yet)/) =>
  alpha
    .log()
    .split("\n")
    .find((line) => line.includes(id) && said.test(line));

// After the ones above: two stored files, each held by all three devices.
describe("a record a member wrote by hand", () => {
  test("of a size past the budget gets no device to fetch the file; put of the file writes its true size", async () => {
    // A budget every disk here has room for past it: what keeps the copy away is the budget.
    const budgetKey = "system/files-budget";
    // The owner's to set (alpha holds the owner key).
    await buckyJson(["state", "set", budgetKey, String(64 * 1024 ** 2), "--home", alpha.home]);
    await waitFor("alpha to have the budget", async () =>
      budgetKey in (await stateUnder(alpha.home, budgetKey)) ? true : undefined,
    );
    // Held by gamma alone; a record says it is 1 GiB, and older than any other.
    const content = randomBytes(300_000);
    const id = storeChunkAlone(gamma.home, content);
    await recordByHand(id, 1024 ** 3, "2000-01-01T00:00:00.000Z");
    // A record within the budget after it: once alpha copied it, it had copied the huge one
    // first, were that within the budget (a round copies in the order stored).
    const next = storeChunkAlone(gamma.home, randomBytes(1000));
    await recordByHand(next, 1000, new Date().toISOString());
    await waitFor("alpha to copy the record within the budget", () =>
      copyLine(next, /stored file copied/),
    );
    expect(copyLine(id)).toBeUndefined();
    expect(existsSync(chunkPath(alpha.home, id))).toBe(false);
    for (const daemon of [alpha, beta, gamma])
      await untilStatus(daemon.home, { files: 4, fewerThanTwoCopies: 1, pastBudget: 1 });
    // The file's own put says its size: within the budget, every device copies it.
    const path = join(scratchDir(), "guessed.bin");
    writeFileSync(path, content);
    const put = await buckyJson<Put>(["put", path, "--home", gamma.home]);
    expect(put.copiedBy.length).toBeGreaterThan(0);
    for (const daemon of [alpha, beta, gamma])
      await untilStatus(daemon.home, { files: 4, fewerThanTwoCopies: 0, pastBudget: 0 });
  });

  test("of a size smaller than the file gets no copy of it", async () => {
    const id = storeChunkAlone(gamma.home, randomBytes(1024 * 1024));
    await recordByHand(id, 10, new Date().toISOString());
    // Refused as it arrives, or copied: nothing else is said once gamma answers.
    const said = await waitFor(
      "alpha to copy it, or to refuse",
      () => copyLine(id, /stored file copied|larger than/),
      15_000,
    );
    expect(said).toContain("larger than a file stored as 10 bytes can be");
    expect(existsSync(chunkPath(alpha.home, id))).toBe(false);
  });

  test("of a file no device holds fetches nothing, and is counted as without copies", async () => {
    const id = `sha256:${createHash("sha256").update(randomBytes(64)).digest("hex")}`;
    await recordByHand(id, 64, new Date().toISOString());
    const said = await waitFor("alpha to try to copy it", () => copyLine(id), 15_000);
    expect(said).toContain("stored file not copied yet");
    expect(existsSync(chunkPath(alpha.home, id))).toBe(false);
    for (const daemon of [alpha, beta, gamma])
      await untilStatus(daemon.home, { files: 6, fewerThanTwoCopies: 2, pastBudget: 0 });
  });

  test("of the whole budget, said stored before any other, leaves every other file within it", async () => {
    // Counted in the order records said, this one came first and every real file was past
    // the budget: no longer a root, every device's copy of each went a day later.
    const id = `sha256:${createHash("sha256").update(randomBytes(64)).digest("hex")}`;
    await recordByHand(id, 64 * 1024 ** 2, "");
    for (const daemon of [alpha, beta, gamma])
      await untilStatus(daemon.home, { files: 7, fewerThanTwoCopies: 3, pastBudget: 1 });
  });
});

// Last: it stops alpha's daemon, then starts it again.
describe("a file put while the daemon was not running (or by a bucky before stored files were the zone's)", () => {
  test("is said stored here alone, and recorded in the zone, and copied, when the daemon runs", async () => {
    await alpha.stop();
    const content = file("offline.bin", 50_000);
    const put = await bucky(["put", content, "--json", "--home", alpha.home]);
    expect(put.exitCode).toBe(0);
    const said = JSON.parse(put.stdout) as Put;
    expect(said).toMatchObject({ recorded: false, copiedBy: [], notCopiedBy: [] });
    expect(put.stderr).toContain("stored on this device alone: its daemon is not running");
    const before = await storedFiles(beta.home);
    alpha = await startDaemon(alpha.home, ENV);
    for (const daemon of [alpha, beta, gamma])
      await untilStatus(daemon.home, {
        files: before.files + 1,
        fewerThanTwoCopies: before.fewerThanTwoCopies,
        pastBudget: before.pastBudget,
      });
    // Once the zone stores it, letting it go is the zone's too: not without the daemon.
    await alpha.stop();
    const rm = await bucky(["rm", said.id, "--json", "--home", alpha.home]);
    expect([rm.exitCode, jsonError(rm).code]).toEqual([3, "E_UNAVAILABLE"]);
    alpha = await startDaemon(alpha.home, ENV);
    expect(await buckyJson(["rm", said.id, "--home", alpha.home])).toMatchObject({
      zoneWide: true,
      storedHere: true,
      heldElsewhere: "held",
    });
  });
});

// After the one above: alpha's daemon runs.
describe("a file put again where it was stored, after bucky rm on another device was not heard there yet", () => {
  test("is stored again, zone-wide, once that device's daemon hears of both", async () => {
    const content = file("again.bin", 40_000);
    const { id } = await buckyJson<Put>(["put", content, "--home", alpha.home]);
    await alpha.stop();
    expect(await buckyJson(["rm", id, "--home", beta.home])).toMatchObject({ zoneWide: true });
    // Put again on alpha, which has not heard of the rm (its daemon away).
    expect(await buckyJson(["put", content, "--home", alpha.home])).toMatchObject({
      recorded: false,
    });
    alpha = await startDaemon(alpha.home, ENV);
    await waitFor("beta to hold the record again", async () =>
      `system/files/${id}` in (await stateUnder(beta.home, `system/files/${id}`))
        ? true
        : undefined,
    );
  });
});

describe("a copy damaged or removed on a device", () => {
  test("is found by its scrub and fetched again, and counted as before on every device; its daemon runs on", async () => {
    const content = file("rotting.bin", CHUNK_BYTES + 100_000);
    const bytes = readFileSync(content);
    const chunks = [bytes.subarray(0, CHUNK_BYTES), bytes.subarray(CHUNK_BYTES)].map(
      (chunk) => `sha256:${createHash("sha256").update(chunk).digest("hex")}`,
    );
    const put = await buckyJson<Put>(["put", content, "--home", alpha.home]);
    const listOn = (home: string) => join(home, "ndn", "lists", put.id.slice("clist:".length));
    const held = (home: string) =>
      [listOn(home), ...chunks.map((id) => chunkPath(home, id))].every(existsSync);
    await waitFor("beta and gamma to hold the file", async () =>
      held(beta.home) && held(gamma.home) ? true : undefined,
    );
    // Counted as every device counts it once both say they hold it.
    await waitFor("alpha to hear beta and gamma hold the file", async () => {
      const said = await stateUnder(alpha.home, "nodes/");
      return ["beta", "gamma"].every((device) => `nodes/${device}/files/${put.id}` in said)
        ? true
        : undefined;
    });
    const { files, fewerThanTwoCopies, pastBudget } = await storedFiles(alpha.home);
    // A byte of beta's chunk list and of its first chunk rots; gamma's second chunk is
    // removed by hand. beta's daemon read the list, threw, and died at every start.
    for (const path of [listOn(beta.home), chunkPath(beta.home, chunks[0] as string)]) {
      const rotten = readFileSync(path);
      rotten[7] = (rotten[7] as number) ^ 0xff;
      writeFileSync(path, rotten);
    }
    rmSync(chunkPath(gamma.home, chunks[1] as string));
    // Each is fetched again: the same bytes where they were, the damaged kept aside.
    const good = (home: string) =>
      held(home) &&
      createHash("sha256")
        .update(readFileSync(listOn(home)))
        .digest("hex") === put.id.slice("clist:".length) &&
      chunks.every(
        (id) =>
          `sha256:${createHash("sha256")
            .update(readFileSync(chunkPath(home, id)))
            .digest("hex")}` === id,
      );
    await waitFor(
      "beta and gamma to hold the file whole again",

      async () => (good(beta.home) && good(gamma.home) ? true : undefined),
      30_000,
    );
    expect(readdirSync(join(beta.home, "ndn-damaged"))).toHaveLength(2);
    expect(beta.log()).toContain("stored object damaged: set aside, to be fetched again");
    // beta's copy is the zone's again: with the others killed, it gives the file.
    for (const daemon of [beta, gamma])
      await untilStatus(daemon.home, { files, fewerThanTwoCopies, pastBudget });
    await Promise.all([alpha.kill(), gamma.kill()]);
    const out = join(scratchDir(), "rotting-copy.bin");
    await buckyJson(["get", put.id, "-o", out, "--home", beta.home]);
    expect(Buffer.compare(readFileSync(out), bytes)).toBe(0);
  });
});
