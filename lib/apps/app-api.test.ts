/**
 * The app API as a hostile app reaches it through its socket: a seeded fuzz of every route
 * with its token and forged ones, keys and ids of every odd form, and bodies of every
 * wrong shape. Every answer is an answer in the API's shape, and nothing is taken for a
 * bug (which would stop the daemon). BUCKY_FUZZ_SEED=<n> replays a run.
 */
import { afterAll, expect, test } from "bun:test";
import { signAppToken } from "../../protocol/app-token.ts";
import { createLog } from "../log.ts";
import { testNodeContext } from "../node/test-node-context.ts";
import { appendLocalChangeset } from "../state/feed.ts";
import { foundingOps, openTestNode, removeTestDatabases, testZone } from "../state/test-db.ts";
import { createAppApi } from "./app-api.ts";
import { testManifest, testSpec } from "./test-spec.ts";

afterAll(removeTestDatabases);

/** Device "a" of a zone of its own, with `spec` installed. */
function installedOn(a: ReturnType<typeof openTestNode>, spec: ReturnType<typeof testSpec>) {
  appendLocalChangeset(
    a.db,
    { zone: testZone.id, name: "a", key: a.key, seal: a.seal },
    [
      ...foundingOps({ a: a.key }),
      { key: "users/owner/apps/notes/spec", value: JSON.stringify(spec) },
    ],
    1000,
  );
  return testNodeContext(a, "a");
}

const SEED = Number(process.env.BUCKY_FUZZ_SEED ?? 20261129);

/** mulberry32: a small seeded generator, so a failing run replays. */
function generator(seed: number) {
  let state = seed >>> 0;
  return <T>(items: readonly T[]): T => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return items[Math.floor((((t ^ (t >>> 14)) >>> 0) / 4294967296) * items.length)] as T;
  };
}

test("no request a hostile app makes is taken for a bug", async () => {
  const pick = generator(SEED);
  const a = openTestNode(120);
  const permissions = [
    "state.read",
    "state.write",
    "state.read:apps/shared/",
    "ndn.read",
    "ndn.write",
  ];
  const node = installedOn(
    a,
    testSpec("notes", { manifest: testManifest("notes", { permissions }) }),
  );
  const bugs: unknown[] = [];
  const api = createAppApi(node, "notes", createLog({ level: "silent" }), (error) =>
    bugs.push(error),
  );
  const token = signAppToken(
    { zone: node.zoneId, app: "notes", version: "1.0.0", permissions, issuedAt: 1 },
    a.key,
  );
  const odd = [
    "",
    "%",
    "%zz",
    "%ff",
    "%C0%AF",
    "%00",
    "..",
    "..%2f..%2fboot%2fconfig",
    "apps/notes/x",
    "apps/notes/%zz",
    "apps/notes/../../boot/config",
    "apps/shared/x",
    "boot/config",
    "a".repeat(5000),
    "__proto__",
    `sha256:${"a".repeat(64)}`,
    "sha256:zz",
  ];
  const authorizations = [
    `Bearer ${token}`,
    `Bearer ${token}`,
    `Bearer ${token}`,
    `Bearer ${token}x`,
    `Bearer ${token.slice(0, -3)}`,
    "Bearer",
    "Bearer %zz",
    "Basic x",
    `Bearer ${"a".repeat(10_000)}`,
    "Bearer a.b.c",
    "",
  ];
  const bodies = [
    "",
    "null",
    "[]",
    "1",
    '"x"',
    '{"value":',
    "{}",
    '{"value":null}',
    '{"value":{"a":[1,2,{"b":"c"}]}}',
    `{"value":"${"x".repeat(100_000)}"}`,
    `${"[".repeat(5000)}${"]".repeat(5000)}`,
    '{"__proto__":{"value":1}}',
    "\xff\xfe",
  ];
  const routes = [
    ["GET", "/v1/whoami"],
    ["GET", "/v1/state?prefix=%s"],
    ["GET", "/v1/state/%s"],
    ["PUT", "/v1/state/%s"],
    ["DELETE", "/v1/state/%s"],
    ["GET", "/v1/objects/%s"],
    ["DELETE", "/v1/objects/%s"],
    ["GET", "/v1/users"],
    ["GET", "/v1/users/%s"],
    ["POST", "/v1/whoami"],
    ["PATCH", "/v1/state/%s"],
    ["GET", "/%s"],
  ] as const;
  const wrong: string[] = [];
  // Statuses seen: the fuzz must reach the routes (with the token), not only their door.
  const statuses = new Set<number>();
  for (let i = 0; i < 600; i++) {
    const [method, template] = pick(routes);
    const path = template.replace("%s", () => pick(odd));
    const body = method === "PUT" || method === "POST" || method === "PATCH" ? pick(bodies) : null;
    const authorization = pick(authorizations);
    const what = `${method} ${path.slice(0, 80)} ${authorization.slice(0, 12)} ${body?.slice(0, 30) ?? ""}`;
    const response = await api.request(path, {
      method,
      headers: { authorization, "content-type": "application/json" },
      ...(body !== null ? { body } : {}),
    });
    const text = await response.text();
    statuses.add(response.status);
    // 503: try again later; 507: the app's live state is at its cap. Neither is a bug.
    if (response.status >= 500 && response.status !== 503 && response.status !== 507)
      wrong.push(`${what}: ${response.status} ${text.slice(0, 160)}`);
    else if (response.status >= 400) {
      const error = (JSON.parse(text) as { error?: { code?: unknown; message?: unknown } }).error;
      if (typeof error?.code !== "string" || typeof error.message !== "string")
        wrong.push(`${what}: ${text.slice(0, 160)}`);
    }
  }
  expect({
    seed: SEED,
    wrong,
    bugs: bugs.map(String),
    answered: statuses.has(200),
    refused: statuses.has(403),
  }).toEqual({ seed: SEED, wrong: [], bugs: [], answered: true, refused: true });
});

test("while an upgrade waits, the version before, which runs, is answered; the new one's token is not yet", async () => {
  const a = openTestNode(122);
  const permissions = ["state.read"];
  const installed = testSpec("notes", {
    version: "2.0.0",
    manifest: testManifest("notes", { version: "2.0.0", permissions }),
  });
  const node = installedOn(a, installed);
  const tokenOf = (version: string) =>
    signAppToken({ zone: node.zoneId, app: "notes", version, permissions, issuedAt: 1 }, a.key);
  const whoami = (api: ReturnType<typeof createAppApi>, version: string) =>
    api.request("/v1/whoami", { headers: { authorization: `Bearer ${tokenOf(version)}` } });
  const log = createLog({ level: "silent" });
  const before = createAppApi(node, "notes", log, () => {}, { running: "1.0.0" });
  expect((await whoami(before, "1.0.0")).status).toBe(200);
  const refused = await whoami(before, "2.0.0");
  expect(refused.status).toBe(403);
  expect(((await refused.json()) as { error: { message: string } }).error.message).toBe(
    "the token is for notes 2.0.0, which is not the version running here",
  );
  // Once the new version runs (its own API), its token is answered, the old one's not.
  const after = createAppApi(node, "notes", log, () => {}, { running: "2.0.0" });
  expect([(await whoami(after, "2.0.0")).status, (await whoami(after, "1.0.0")).status]).toEqual([
    200, 403,
  ]);
});

test("named data is stored one call at a time: a second while one is read is refused, for a moment", async () => {
  const a = openTestNode(62);
  const permissions = ["ndn.write"];
  const node = installedOn(
    a,
    testSpec("notes", { manifest: testManifest("notes", { permissions }) }),
  );
  const api = createAppApi(node, "notes", createLog({ level: "silent" }), (error) => {
    throw error;
  });
  const token = signAppToken(
    { zone: node.zoneId, app: "notes", version: "1.0.0", permissions, issuedAt: 1 },
    a.key,
  );
  const post = (body: string | ReadableStream<Uint8Array>) =>
    api.request("/v1/objects", {
      method: "POST",
      headers: { authorization: `Bearer ${token}` },
      body,
    });
  // The first's body comes slowly: it is read while the second is sent.
  let finish!: () => void;
  const slow = new ReadableStream<Uint8Array>({
    start(controller) {
      controller.enqueue(new TextEncoder().encode("the first "));
      finish = () => {
        controller.enqueue(new TextEncoder().encode("object"));
        controller.close();
      };
    },
  });
  const first = post(slow);
  const second = await post("the second object");
  expect(second.status).toBe(503);
  expect(second.headers.get("retry-after")).toBe("1");
  expect(((await second.json()) as { error: { code: string } }).error.code).toBe("E_UNAVAILABLE");
  finish();
  expect((await first).status).toBe(200);
  // Once it is answered, the next is taken.
  expect((await post("the second object")).status).toBe(200);
});
