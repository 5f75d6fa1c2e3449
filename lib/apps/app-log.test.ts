import { afterAll, describe, expect, test } from "bun:test";
import {
  closeSync,
  mkdtempSync,
  openSync,
  readFileSync,
  rmSync,
  statSync,
  writeSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { trimLog } from "./app-log.ts";

const dir = mkdtempSync(join(tmpdir(), "bucky-app-log-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe("an app's output", () => {
  test("stays bounded while the app keeps writing to it", () => {
    const path = join(dir, "app.log");
    // The app's end of it: opened for appending, as the runner opens it.
    const fd = openSync(path, "a");
    try {
      for (let i = 0; i < 2000; i++) writeSync(fd, `line ${i} ${"x".repeat(80)}\n`);
      expect(trimLog(path, 64 * 1024)).toBe(true);
      writeSync(fd, "after the rotation\n");
      expect(readFileSync(path, "utf8")).toBe("after the rotation\n");
      expect(readFileSync(`${path}.1`, "utf8").split("\n").at(-2)).toStartWith("line 1999 ");
      // Under the limit, nothing moves.
      expect(trimLog(path, 64 * 1024)).toBe(false);
      expect(statSync(path).size).toBe("after the rotation\n".length);
    } finally {
      closeSync(fd);
    }
  });
});
