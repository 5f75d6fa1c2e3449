import { Database } from "bun:sqlite";
import { describe, expect, test } from "bun:test";
import { readDeviceInfo } from "./peers.ts";

function infoOf(value: string): Database {
  const db = new Database(":memory:");
  db.run("CREATE TABLE state (key TEXT PRIMARY KEY, value TEXT)");
  db.query("INSERT INTO state (key, value) VALUES ('devices/laptop/info', ?)").run(value);
  return db;
}

describe("a device's info (devices/<device>/info), as it wrote it", () => {
  test("reads when of its shape", () => {
    const info = { addrs: ["https://10.0.0.2:7070"], cert: "PEM", version: "1.0.0" };
    expect(readDeviceInfo(infoOf(JSON.stringify(info)), "laptop")).toEqual(info);
  });

  test("reads as no info when it is not, rather than failing whoever looks for the device", () => {
    for (const text of ["null", "5", "[]", JSON.stringify({ addrs: "x", cert: "PEM" })])
      expect(readDeviceInfo(infoOf(text), "laptop")).toBeUndefined();
  });
});
