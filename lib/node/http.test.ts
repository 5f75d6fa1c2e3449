import { describe, expect, test } from "bun:test";
import { Hono } from "hono";
import { BuckyError } from "../errors.ts";
import { createLog } from "../log.ts";
import { errorHandler } from "./http.ts";

describe("errorHandler", () => {
  test("tells onBug of a bug with the request it came in, and of a refusal nothing", async () => {
    const told: [unknown, Request][] = [];
    const app = new Hono();
    app.onError(
      errorHandler(createLog({ level: "silent" }), (error, request) => told.push([error, request])),
    );
    app.get("/bug", () => {
      throw new TypeError("a bug");
    });
    app.get("/refused", () => {
      throw new BuckyError("E_USAGE", "refused");
    });
    const bug = new Request("http://local/bug");
    const answers = [await app.fetch(bug), await app.fetch(new Request("http://local/refused"))];
    expect(answers.map((answer) => answer.status)).toEqual([500, 400]);
    expect(told.map(([error, request]) => [(error as Error).message, request === bug])).toEqual([
      ["a bug", true],
    ]);
  });
});
