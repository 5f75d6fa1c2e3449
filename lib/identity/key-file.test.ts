import { afterAll, describe, expect, test } from "bun:test";
import { chmodSync, mkdtempSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { BuckyError } from "../errors.ts";
import { createLog } from "../log.ts";
import { readKeyFile, writeKeyFile } from "./key-file.ts";

const dir = mkdtempSync(join(tmpdir(), "bucky-keys-"));
afterAll(() => rmSync(dir, { recursive: true }));
const quiet = createLog({ level: "silent" });
const secret = new Uint8Array(32).map((_, i) => i);

function integrityMessage(read: () => unknown): string {
  try {
    read();
  } catch (error) {
    expect(error).toBeInstanceOf(BuckyError);
    expect((error as BuckyError).code).toBe("E_INTEGRITY");
    return (error as BuckyError).message;
  }
  throw new Error("expected an integrity error");
}

describe("key files", () => {
  test("round trip with mode 0600", () => {
    const path = join(dir, "device.key");
    writeKeyFile(path, "device", secret);
    expect(statSync(path).mode & 0o777).toBe(0o600);
    expect(readKeyFile(path, "device", quiet)).toEqual(secret);
  });

  test("a key of another kind is refused", () => {
    const path = join(dir, "owner-as-device.key");
    writeKeyFile(path, "owner", secret);
    expect(integrityMessage(() => readKeyFile(path, "device", quiet))).toBe(
      `the device key file ${path} is damaged: it does not start with "bucky-device-key-v1:"`,
    );
  });

  test("a truncated or padded key is refused", () => {
    const path = join(dir, "short.key");
    writeFileSync(
      path,
      `bucky-device-key-v1:${Buffer.from(secret.slice(0, 31)).toString("base64url")}\n`,
    );
    expect(integrityMessage(() => readKeyFile(path, "device", quiet))).toContain(
      "its key is not 32 bytes",
    );
    writeFileSync(path, "x".repeat(1000));
    expect(integrityMessage(() => readKeyFile(path, "device", quiet))).toContain("it is too large");
  });

  test("a key readable by others is restricted to its owner, and that is logged", () => {
    const path = join(dir, "loose.key");
    writeKeyFile(path, "device", secret);
    chmodSync(path, 0o644);
    const lines: string[] = [];
    readKeyFile(path, "device", createLog({ level: "warn", write: (line) => lines.push(line) }));
    expect(statSync(path).mode & 0o777).toBe(0o600);
    expect(lines).toHaveLength(1);
    expect(lines[0]).toContain("key file was readable by others");
  });
});
