import { describe, expect, test } from "bun:test";
import { Hono } from "hono";
import { BuckyError } from "../errors.ts";
import { asksToWait, pathAsked } from "./held-wait.ts";

describe("a write's wait for another device, as asked", () => {
  test("the CLI asks not to wait with wait=false, after any query the path has", () => {
    expect(pathAsked("/v1/state/apps/x", { wait: true })).toBe("/v1/state/apps/x");
    expect(pathAsked("/v1/state/apps/x", { wait: false })).toBe("/v1/state/apps/x?wait=false");
    expect(pathAsked("/v1/apps/notes?purge=1", { wait: false })).toBe(
      "/v1/apps/notes?purge=1&wait=false",
    );
  });

  test("the daemon waits unless told wait=false, and refuses any other value", async () => {
    const app = new Hono();
    app.onError((error, c) =>
      c.json(error instanceof BuckyError ? error.toJSON() : { code: "E_INTERNAL" }, 400),
    );
    app.get("/", (c) => c.json({ wait: asksToWait(c) }));
    const asked = async (query: string) => (await app.request(`/${query}`)).json();
    expect(await asked("")).toEqual({ wait: true });
    expect(await asked("?wait=true")).toEqual({ wait: true });
    expect(await asked("?wait=false")).toEqual({ wait: false });
    expect(await asked("?wait=no")).toMatchObject({
      code: "E_INVALID_INPUT",
      message: '"wait=no" is neither true nor false',
    });
  });
});
