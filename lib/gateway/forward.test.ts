import { describe, expect, test } from "bun:test";
import { forwardedHeaders, isBuckyHeader } from "./forward.ts";

describe("what an app receives", () => {
  test("no bucky header from a client, however it is spelled", () => {
    const incoming = new Headers([
      ["Bucky-User", "owner"],
      ["bucky_user", "owner"],
      ["BUCKY_USER_ROLE", "admin"],
      ["Bucky-App-User", "x"],
      ["x-bucky-user", "kept: not ours"],
      ["cookie", "bucky_session=secret; theme=dark"],
    ]);
    const forwarded = forwardedHeaders(incoming, { "x-forwarded-for": "1.2.3.4" });
    expect(Object.fromEntries(forwarded)).toEqual({
      "x-bucky-user": "kept: not ours",
      cookie: "theme=dark",
      "x-forwarded-for": "1.2.3.4",
    });
  });

  test("bucky's own names", () => {
    for (const name of ["bucky-user", "Bucky_User", "bucky_-x", "bucky-"])
      expect([name, isBuckyHeader(name)]).toEqual([name, true]);
    for (const name of ["buckyuser", "x-bucky-user", "bucky"])
      expect([name, isBuckyHeader(name)]).toEqual([name, false]);
  });
});
