/**
 * An app's live zone state, counted and capped: the figure the triggers keep matches a sum
 * over every key, on the device that wrote and on one that merged; and the app API refuses
 * writes past its pace (429) and past the cap (507), writing nothing.
 */
import { afterAll, describe, expect, test } from "bun:test";
import { signAppToken } from "../../protocol/app-token.ts";
import { createLog } from "../log.ts";
import { testNodeContext } from "../node/test-node-context.ts";
import { appendLocalChangeset } from "../state/feed.ts";
import {
  foundingOps,
  openTestNode,
  removeTestDatabases,
  type TestNode,
  testDeviceDocument,
  testZone,
} from "../state/test-db.ts";
import { entriesMissingFrom, versionVector } from "../sync/exchange.ts";
import { ingestEntries } from "../sync/ingest.ts";
import { createAppApi } from "./app-api.ts";
import { countedSegments, entryBytes, stateBytesUnder } from "./state-quota.ts";
import { testManifest, testSpec } from "./test-spec.ts";
import { WritePace } from "./write-pace.ts";

afterAll(removeTestDatabases);

const KIB = 1024;
const quiet = createLog({ level: "silent" });

/** Every app's live bytes, added up here over every key of the state. */
function summed(node: TestNode): Record<string, number> {
  const rows = node.db.$client
    .query<{ key: string; value: string }, []>(
      "SELECT key, value FROM state WHERE key GLOB 'apps/*/*' AND value IS NOT NULL",
    )
    .all();
  const sums: Record<string, number> = {};
  for (const row of rows) {
    const app = row.key.split("/")[1] as string;
    sums[app] = (sums[app] ?? 0) + entryBytes(row.key, row.value);
  }
  return sums;
}

/** Every app's live bytes as the cap counts them (stateBytesUnder), of those holding any. */
function kept(node: TestNode): Record<string, number> {
  const apps = node.db.$client
    .query<{ app: string }, []>(
      "SELECT DISTINCT substr(key, 6, instr(substr(key, 6), '/') - 1) AS app FROM state WHERE key GLOB 'apps/*/*'",
    )
    .all()
    .map((row) => row.app);
  return Object.fromEntries(
    apps
      .map((app) => [app, stateBytesUnder(node.db, [app])] as const)
      .filter(([, bytes]) => bytes > 0),
  );
}

/** A zone of device a (and b, admitted), with `app` installed with `permissions`. */
function zoneWith(app: string, permissions: string[], seedBase: number) {
  const a = openTestNode(seedBase);
  const b = openTestNode(seedBase + 1);
  const spec = testSpec(app, { manifest: testManifest(app, { permissions }) });
  appendLocalChangeset(
    a.db,
    { zone: testZone.id, name: "a", key: a.key, seal: a.seal },
    [
      ...foundingOps({ a: a.key }),
      { key: "devices/b/doc", value: testDeviceDocument(b.key, "b") },
      { key: `users/owner/apps/${app}/spec`, value: JSON.stringify(spec) },
    ],
    1000,
  );
  return { a, b };
}

function writeOn(node: TestNode, ops: { key: string; value: string | null }[], ms: number) {
  appendLocalChangeset(
    node.db,
    { zone: testZone.id, name: "a", key: node.key, seal: node.seal },
    ops,
    ms,
  );
}

describe("an app's live state bytes", () => {
  test("are counted right through writes, overwrites, deletes and a merge on another device", () => {
    const { a, b } = zoneWith("notes", ["state.write"], 140);
    writeOn(
      a,
      [
        { key: "apps/notes/a", value: JSON.stringify("x".repeat(1000)) },
        { key: "apps/notes/b", value: JSON.stringify("é".repeat(10)) },
        { key: "apps/shared/c", value: "1" },
        // Not under an app's segment: counted nowhere.
        { key: "apps/loose", value: "1" },
        { key: "boot/other", value: "1" },
      ],
      2000,
    );
    writeOn(a, [{ key: "apps/notes/a", value: JSON.stringify("short") }], 3000);
    writeOn(a, [{ key: "apps/notes/b", value: null }], 4000);
    writeOn(a, [{ key: "apps/notes/b", value: JSON.stringify("back") }], 5000);
    const expected = {
      notes: entryBytes("apps/notes/a", '"short"') + entryBytes("apps/notes/b", '"back"'),
      shared: entryBytes("apps/shared/c", "1"),
    };
    expect([summed(a), kept(a)]).toEqual([expected, expected]);
    ingestEntries(b.db, entriesMissingFrom(a.db, versionVector(b.db)).entries, {
      zone: testZone.id,
      nowMs: 6000,
      log: quiet,
      source: "test",
      seal: b.seal,
    });
    expect([summed(b), kept(b)]).toEqual([expected, expected]);
  });

  test("count every segment an app may write: its own, and those it was granted", () => {
    expect(countedSegments("notes", ["state.read", "state.write:apps/shared/board/"])).toEqual([
      "notes",
      "shared",
    ]);
    const { a } = zoneWith("notes", ["state.write", "state.write:apps/shared/"], 150);
    writeOn(
      a,
      [
        { key: "apps/notes/a", value: "12" },
        { key: "apps/shared/b", value: "345" },
        { key: "apps/other/c", value: "6789" },
      ],
      2000,
    );
    expect(stateBytesUnder(a.db, countedSegments("notes", ["state.write:apps/shared/"]))).toBe(
      entryBytes("apps/notes/a", "12") + entryBytes("apps/shared/b", "345"),
    );
  });
});

describe("the app API's bounds on state writes", () => {
  function apiOf(seedBase: number, options: { pace?: "loose"; stateMaxBytes?: number } = {}) {
    const permissions = ["state.read", "state.write", "state.write:apps/shared/"];
    const { a } = zoneWith("notes", permissions, seedBase);
    const clock = { now: 10_000 };
    const node = testNodeContext(a, "a", { now: () => clock.now });
    const pace =
      options.pace === "loose"
        ? new WritePace("notes", () => clock.now, quiet, {
            changesPerSecond: 1000,
            changeBurst: 1000,
            bytesPerSecond: 1e9,
            burstBytes: 1e9,
          })
        : undefined;
    const api = createAppApi(
      node,
      "notes",
      quiet,
      (error) => {
        throw error;
      },
      {
        ...(pace ? { pace } : {}),
        ...(options.stateMaxBytes ? { stateMaxBytes: options.stateMaxBytes } : {}),
      },
    );
    const token = signAppToken(
      { zone: node.zoneId, app: "notes", version: "1.0.0", permissions, issuedAt: 1 },
      a.key,
    );
    const call = async (method: string, key: string, value?: unknown) => {
      const response = await api.request(`/v1/state/${key}`, {
        method,
        headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
        ...(value === undefined ? {} : { body: JSON.stringify({ value }) }),
      });
      const body = (await response.json()) as {
        error?: { code: string; message: string; hint?: string };
      };
      return { status: response.status, retryAfter: response.headers.get("retry-after"), body };
    };
    return { a, clock, call };
  }

  /** A string whose JSON is `bytes` long. */
  const jsonOfBytes = (bytes: number) => "x".repeat(bytes - 2);

  test("values of 64 KiB written fast: refused with 429 and Retry-After once past 1 MiB", async () => {
    const { a, call } = apiOf(160);
    const statuses: number[] = [];
    let refusal: Awaited<ReturnType<typeof call>> | undefined;
    for (let i = 0; i < 40 && !refusal; i++) {
      const answer = await call(
        "PUT",
        `apps/notes/k${String(i).padStart(2, "0")}`,
        jsonOfBytes(64 * KIB),
      );
      statuses.push(answer.status);
      if (answer.status !== 200) refusal = answer;
    }
    const written = statuses.filter((status) => status === 200).length;
    expect({ written, refusal }).toEqual({
      // 16 values of 64 KiB are 1 MiB, and their keys a little more.
      written: 15,
      refusal: {
        status: 429,
        retryAfter: expect.stringMatching(/^\d+$/),
        body: {
          error: {
            code: "E_RATE_LIMITED",
            message: expect.stringContaining("at most 2.0 KiB a second of zone state"),
            hint: expect.stringContaining("the app's data directory"),
          },
        },
      },
    });
    // The zone state grew by what was let through, no more.
    expect(kept(a).notes).toBe(
      15 * entryBytes("apps/notes/k00", JSON.stringify(jsonOfBytes(64 * KIB))),
    );
  });

  test("a write past the live cap is refused with 507, and nothing is written", async () => {
    const { a, call } = apiOf(170, { pace: "loose", stateMaxBytes: 200 * KIB });
    for (const key of ["apps/notes/a", "apps/notes/b", "apps/shared/c"])
      expect((await call("PUT", key, jsonOfBytes(60 * KIB))).status).toBe(200);
    const before = kept(a);
    const refused = await call("PUT", "apps/notes/d", jsonOfBytes(30 * KIB));
    expect(refused).toEqual({
      status: 507,
      retryAfter: null,
      body: {
        error: {
          code: "E_QUOTA",
          message: expect.stringMatching(
            /^notes may keep at most 200\.0 KiB of zone state \(under apps\/notes\/, apps\/shared\/\), and holds 180\.\d KiB: this write of 30\.0 KiB more would pass it, so nothing was written$/,
          ),
          hint: expect.stringContaining("Delete keys the app no longer needs"),
        },
      },
    });
    expect([(await call("GET", "apps/notes/d")).status, kept(a)]).toEqual([404, before]);
    // Making room works at the cap: a smaller value, a delete; then the write fits.
    expect((await call("PUT", "apps/notes/a", "small")).status).toBe(200);
    expect((await call("DELETE", "apps/shared/c")).status).toBe(200);
    expect((await call("PUT", "apps/notes/d", jsonOfBytes(30 * KIB))).status).toBe(200);
  });
});
