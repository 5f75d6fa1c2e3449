import { afterAll, describe, expect, test } from "bun:test";
import {
  closeSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  openSync,
  rmSync,
  truncateSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { MAX_SNAPSHOT_FILE_BYTES } from "../../protocol/backup/formats.ts";
import { encodeRemoteRequest, REMOTE_READ_MAX_BYTES } from "../../protocol/backup/remote.ts";
import { deviceIdFromPublicKey } from "../../protocol/ids.ts";
import { testNodeContext } from "../node/test-node-context.ts";
import { openTestNode } from "../state/test-db.ts";
import type { Backend } from "./backend.ts";
import { hotFileName, MAX_HOT_FILE_BYTES } from "./hot.ts";
import { LocalBackend } from "./local-backend.ts";
import { MAX_LOCK_FILE_BYTES, takeExclusiveLock, takeSharedLock } from "./lock.ts";
import { MAX_INDEX_FILE_BYTES } from "./repository.ts";
import { TargetHost } from "./target-host.ts";

const dirs: string[] = [];
afterAll(() => {
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
});

const NOW = Date.parse("2026-11-29T14:00:00Z");
const LOCK = `locks/shared-${"ab".repeat(16)}`;

/** A via device (its clock: `clock.now`) serving a directory target, and a member sending to it. */
function via() {
  const dir = mkdtempSync(join(tmpdir(), "bucky-via-"));
  dirs.push(dir);
  const backend = new LocalBackend(dir);
  const clock = { now: NOW };
  const host = new TargetHost(testNodeContext(openTestNode(70), "nas", { now: () => clock.now }));
  // The target the zone records with nas as its via: here, the directory.
  Object.defineProperty(host, "backendFor", { value: async () => backend });
  const laptop = deviceIdFromPublicKey(openTestNode(71).key.publicKey);
  const send = (op: "create" | "write" | "read", path: string, refreshedAt?: number) =>
    host.serve(
      laptop,
      "usb",
      encodeRemoteRequest({
        op,
        path,
        ...(refreshedAt === undefined
          ? {}
          : {
              data: new TextEncoder().encode(
                // An age of its own, which only the via may say, is not taken either.
                JSON.stringify({
                  hostname: "laptop",
                  pid: 1,
                  purpose: "backup",
                  refreshedAt,
                  ageMs: 0,
                }),
              ),
            }),
      }),
    );
  return { dir, backend, clock, host, send, laptop };
}

async function pruneRefused(backend: Backend, nowMs: number): Promise<string | undefined> {
  try {
    await (await takeExclusiveLock(backend, "prune", { now: () => nowMs })).release();
    return undefined;
  } catch (error) {
    return (error as { code?: string }).code;
  }
}

describe("a shared lock taken through the via", () => {
  test("is as fresh as the via's clock says: a sender's clock behind does not let a prune clear it", async () => {
    const { dir, backend, clock, host, send } = via();
    // laptop's clock is 200 s behind nas's: by its own word, its lock is stale already.
    await send("create", LOCK, NOW - 200_000);
    expect(await pruneRefused(backend, clock.now)).toBe("E_UNAVAILABLE");
    expect(existsSync(join(dir, LOCK))).toBe(true);
    // Refreshed as it runs, it stays held.
    clock.now += 60_000;
    await send("write", LOCK, NOW - 140_000);
    clock.now += 60_000;
    expect(await pruneRefused(backend, clock.now)).toBe("E_UNAVAILABLE");
    await host.stop();
  });

  test("a far-future time written by a member blocks prunes no longer than a lock left behind", async () => {
    const { backend, clock, host, send } = via();
    await send("create", LOCK, NOW + 10 * 86_400_000);
    expect(await pruneRefused(backend, clock.now)).toBe("E_UNAVAILABLE");
    // Not refreshed for over 90 s of the via's clock: stale, whatever it said.
    clock.now += 100_000;
    expect(await pruneRefused(backend, clock.now)).toBeUndefined();
    await host.stop();
  });

  test("a sender's clock ahead does not take a live prune for stale: the via says how old it is", async () => {
    const { backend, clock, host, send } = via();
    const prune = await takeExclusiveLock(backend, "prune", { now: () => clock.now });
    const read = await send("read", "locks/exclusive");
    // laptop reads the prune's lock through the via, its clock 5 minutes ahead.
    const remote = {
      create: async (path: string, data: Uint8Array) => {
        await send("create", path, JSON.parse(new TextDecoder().decode(data)).refreshedAt);
        return true;
      },
      read: async () => read.bytes,
      remove: async () => {},
      location: "nas:usb",
      // Reached through the via, which says how old a lock is, as RemoteBackend is.
      agesLocks: true,
    } as unknown as Backend;
    const waiting = takeSharedLock(remote, "backup", {
      now: () => clock.now + 300_000,
      waitMs: 0,
    }).then(
      () => "took it",
      (error: { code?: string }) => error.code,
    );
    expect(await waiting).toBe("E_UNAVAILABLE");
    await prune.release();
    await host.stop();
  });
});

describe("a snapshot file read through the via", () => {
  test("one over the bound is answered as no bytes, which every bucky leaves out, not as a refusal", async () => {
    const { dir, host, send } = via();
    const name = `snapshots/${"cd".repeat(16)}`;
    mkdirSync(join(dir, "snapshots"), { recursive: true });
    writeFileSync(join(dir, name), new Uint8Array(MAX_SNAPSHOT_FILE_BYTES + 1));
    const answer = await send("read", name);
    expect(answer.bytes).toHaveLength(0);
    await host.stop();
  });
});

describe("index, hot and lock files read through the via", () => {
  /** A sparse file of `sizeBytes` at `path` of the target: nothing is read of it past its size. */
  const sparse = (dir: string, path: string, sizeBytes: number) => {
    mkdirSync(join(dir, dirname(path)), { recursive: true });
    closeSync(openSync(join(dir, path), "w"));
    truncateSync(join(dir, path), sizeBytes);
  };

  test("one over its kind's bound (or what one answer carries) is answered as no bytes", async () => {
    const { dir, host, send } = via();
    const files = {
      index: `index/${"ab".repeat(16)}`,
      hot: `hot/${hotFileName("2026-11-29T14:00:00.000Z", "laptop")}`,
      lock: "locks/exclusive",
      shared: `locks/shared-${"ef".repeat(16)}`,
    };
    sparse(dir, files.index, Math.min(MAX_INDEX_FILE_BYTES, REMOTE_READ_MAX_BYTES) + 1);
    sparse(dir, files.hot, MAX_HOT_FILE_BYTES + 1);
    sparse(dir, files.lock, MAX_LOCK_FILE_BYTES + 1);
    sparse(dir, files.shared, MAX_LOCK_FILE_BYTES + 1);
    const answers: Record<string, number> = {};
    for (const [kind, path] of Object.entries(files))
      answers[kind] = (await send("read", path)).bytes.length;
    expect(answers).toEqual({ index: 0, hot: 0, lock: 0, shared: 0 });
    await host.stop();
  });

  test("a shared lock over the bound is no member's: it is not refreshed in its name", async () => {
    const { backend, host, send, laptop } = via();
    // The member's own lock by its words, padded past what a lock holds.
    const padded = { hostname: "laptop", pid: 1, purpose: "backup", refreshedAt: NOW };
    await backend.write(
      LOCK,
      new TextEncoder().encode(
        JSON.stringify({ ...padded, device: laptop, pad: "x".repeat(MAX_LOCK_FILE_BYTES) }),
      ),
    );
    const refused = await send("write", LOCK, NOW).then(
      () => "written",
      (error: { code?: string }) => error.code,
    );
    expect(refused).toBe("E_PERMISSION");
    await host.stop();
  });
});
