import { expect, test } from "bun:test";
import { Hono } from "hono";
import { BuckyError } from "../errors.ts";
import { createLog } from "../log.ts";
import { errorHandler, jsonBody, requestLog } from "./http.ts";
import { lazyRoutes } from "./lazy-routes.ts";

/** Routes of the kind the local API mounts: JSON answers, parameters, bodies, refusals. */
function makeRoutes(): Hono {
  const routes = new Hono();
  routes.get("/", (c) => c.json({ at: "root", q: c.req.query("q") ?? null }));
  routes.get("/items/:id", (c) => c.json({ id: c.req.param("id") }));
  routes.post("/items", async (c) => c.json({ posted: await jsonBody(c) }));
  routes.get("/refused", () => {
    throw new BuckyError("E_NOT_FOUND", "no such target", "See bucky backup targets.");
  });
  return routes;
}

/** An app as createLocalApp makes it, with the routes mounted eagerly or lazily. */
function makeApp(mount: (app: Hono) => void) {
  const lines: string[] = [];
  const bugs: unknown[] = [];
  const log = createLog({ level: "info", write: (line) => lines.push(line) });
  const app = new Hono();
  app.use(requestLog(log, "local"));
  app.onError(errorHandler(log, (error) => bugs.push(error)));
  mount(app);
  app.get("/v1/other", (c) => c.json({ other: true }));
  app.notFound((c) => c.json({ error: `no API route ${c.req.method} ${c.req.path}` }, 404));
  return { app, lines, bugs };
}

const REQUESTS: [string, RequestInit?][] = [
  ["/v1/x"],
  ["/v1/x?q=notes"],
  ["/v1/x/"],
  ["/v1/x/items/7"],
  ["/v1/x/items", { method: "POST", body: JSON.stringify({ a: 1 }) }],
  ["/v1/x/items", { method: "POST", body: "not json" }],
  ["/v1/x/refused"],
  ["/v1/x/nothing/here"],
  ["/v1/x/items/7", { method: "DELETE" }],
  ["/v1/xy"],
  ["/v1/other"],
];

async function answers(app: Hono) {
  const out: unknown[] = [];
  for (const [path, init] of REQUESTS) {
    const response = await app.request(path, init);
    out.push([path, response.status, await response.text()]);
  }
  return out;
}

/** A log line without its time and duration, which differ from run to run. */
const steady = (line: string) => line.replace(/^\S+ /, "").replace(/ms=[\d.]+/, "ms=");

test("lazily loaded routes answer every request as the same routes mounted at start", async () => {
  const eager = makeApp((app) => app.route("/v1/x", makeRoutes()));
  const lazy = makeApp((app) => lazyRoutes(app, "/v1/x", async () => makeRoutes()));
  const expected = await answers(eager.app);
  expect(await answers(lazy.app)).toEqual(expected);
  // Refusals reach the app's own error handler, so its request log says why, as before.
  expect(lazy.lines.map(steady)).toEqual(eager.lines.map(steady));
  expect(lazy.lines.some((line) => line.includes("code=E_NOT_FOUND"))).toBe(true);
  expect(lazy.bugs).toEqual([]);
});

test("the routes' module is loaded at the first request under the prefix, and once", async () => {
  let loads = 0;
  const { app } = makeApp((app) =>
    lazyRoutes(app, "/v1/x", async () => {
      loads++;
      return makeRoutes();
    }),
  );
  await app.request("/v1/other");
  await app.request("/v1/xy");
  expect(loads).toBe(0);
  const [first, second] = await Promise.all([
    app.request("/v1/x/items/1"),
    app.request("/v1/x/items/2"),
  ]);
  await app.request("/v1/x");
  expect(await first.json()).toEqual({ id: "1" });
  expect(await second.json()).toEqual({ id: "2" });
  expect(loads).toBe(1);
});

test("a bug in a lazily loaded route is a bug, as in any other route", async () => {
  const { app, bugs } = makeApp((app) =>
    lazyRoutes(app, "/v1/x", async () =>
      new Hono().get("/broken", () => {
        throw new TypeError("undefined is not a function");
      }),
    ),
  );
  const response = await app.request("/v1/x/broken");
  expect(response.status).toBe(500);
  expect(bugs).toHaveLength(1);
  expect((bugs[0] as Error).message).toBe("undefined is not a function");
});
