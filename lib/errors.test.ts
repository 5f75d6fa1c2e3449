import { describe, expect, test } from "bun:test";
import { ProtocolError } from "../protocol/errors.ts";
import {
  BuckyError,
  ERROR_CODES,
  fileSystemError,
  isBusy,
  sqliteError,
  toBuckyError,
} from "./errors.ts";

describe("errors", () => {
  test("each code has the exit code and HTTP status of its class", () => {
    expect(
      Object.fromEntries(Object.entries(ERROR_CODES).map(([code, { exit }]) => [code, exit])),
    ).toEqual({
      E_USAGE: 2,
      E_INVALID_INPUT: 2,
      E_NOT_FOUND: 1,
      E_NO_ZONE: 1,
      E_EXISTS: 1,
      E_TOO_LARGE: 2,
      E_PERMISSION: 1,
      E_CLOCK: 1,
      E_QUARANTINED: 1,
      E_REVOKED: 5,
      E_UPGRADE_FIRST: 1,
      E_IO: 1,
      E_UNAVAILABLE: 3,
      E_RATE_LIMITED: 3,
      E_QUOTA: 1,
      E_INTEGRITY: 4,
      E_INTERNAL: 70,
    });
    expect(new BuckyError("E_UNAVAILABLE", "down").httpStatus).toBe(503);
    expect(new BuckyError("E_INTEGRITY", "bad").httpStatus).toBe(422);
    expect(new BuckyError("E_QUARANTINED", "refused").httpStatus).toBe(403);
    expect(new BuckyError("E_REVOKED", "refused").httpStatus).toBe(403);
  });

  test("serializes as code, message and hint", () => {
    expect(JSON.parse(JSON.stringify(new BuckyError("E_EXISTS", "taken", "use another")))).toEqual({
      code: "E_EXISTS",
      message: "taken",
      hint: "use another",
    });
    expect(new BuckyError("E_EXISTS", "taken").toJSON()).toEqual({
      code: "E_EXISTS",
      message: "taken",
    });
  });

  test("a protocol error that escapes is an integrity error; anything else unexpected is a bug", () => {
    expect(toBuckyError(new ProtocolError("bad signature")).code).toBe("E_INTEGRITY");
    const bug = toBuckyError(new TypeError("x is undefined"));
    expect([bug.code, bug.exitCode, bug.message]).toEqual([
      "E_INTERNAL",
      70,
      "internal error: x is undefined",
    ]);
    const known = new BuckyError("E_NOT_FOUND", "gone");
    expect(toBuckyError(known)).toBe(known);
  });

  test("file system errors are explained, others are left alone", () => {
    const error = (code: string) => Object.assign(new Error(code), { code });
    expect(fileSystemError(error("ENOSPC"), "write", "/x")?.message).toBe(
      "cannot write /x: the disk is full",
    );
    expect(fileSystemError(error("EROFS"), "write", "/x")?.code).toBe("E_PERMISSION");
    expect(fileSystemError(new Error("plain"), "write", "/x")).toBeUndefined();
  });

  test("a database another process holds, even one stopped half way through its log, is busy, not a bug", () => {
    for (const code of [
      "SQLITE_BUSY",
      "SQLITE_LOCKED",
      "SQLITE_PROTOCOL",
      "SQLITE_BUSY_RECOVERY",
    ]) {
      const error = Object.assign(new Error("locking protocol"), { name: "SQLiteError", code });
      expect(isBusy(error)).toBe(true);
      expect(sqliteError(error, "the state database")?.code).toBe("E_UNAVAILABLE");
    }
    expect(isBusy(Object.assign(new Error("x"), { code: "SQLITE_CORRUPT" }))).toBe(false);
  });
});
