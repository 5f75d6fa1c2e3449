import { Database } from "bun:sqlite";
import { describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { DeviceId } from "../../protocol/ids.ts";
import { openStateDb } from "../store/db.ts";
import { Contacts, readDeviceInfo } from "./peers.ts";

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

describe("a peer heard by its requests", () => {
  const laptop = "laptop-id" as DeviceId;
  const T = 1_800_000_000_000;

  /**
   * Contacts on a wall clock that is never set unless `monotonic` is given: each calledBy's
   * `nowMs` then moves the monotonic clock as much.
   */
  function contacts(monotonic?: { ms: number }): {
    contacts: Contacts;
    calledBy(id: DeviceId, signedAtMs: number, nowMs: number): void;
    [Symbol.dispose](): void;
  } {
    const dir = mkdtempSync(join(tmpdir(), "bucky-contacts-"));
    const db = openStateDb(join(dir, "state.db"), { create: true });
    const clock = monotonic ?? { ms: 0 };
    const book = new Contacts(db, 10_000, () => clock.ms);
    return {
      contacts: book,
      calledBy(id, signedAtMs, nowMs) {
        if (!monotonic) clock.ms = nowMs - T;
        book.calledBy(id, signedAtMs, nowMs);
      },
      [Symbol.dispose]() {
        db.$client.close();
        rmSync(dir, { recursive: true, force: true });
      },
    };
  }

  test("a request held on the way is the peer heard when it signed it, not when it came", () => {
    using book = contacts();
    // Clocks 20 s apart; a request that came at once, then one a relay held 4 minutes.
    book.calledBy(laptop, T + 20_000, T);
    expect(book.contacts.get(laptop)?.lastSeenAt).toBe(T);
    book.calledBy(laptop, T + 20_000 + 30_000, T + 30_000);
    expect(book.contacts.get(laptop)?.lastSeenAt).toBe(T + 30_000);
    book.calledBy(laptop, T + 20_000 + 45_000, T + 285_000);
    expect(book.contacts.get(laptop)?.lastSeenAt).toBe(T + 45_000);
    expect(book.contacts.clockOffsetMs(laptop)).toBe(20_000);
  });

  test("an older request does not undo a later hearing (an answer's head, say)", () => {
    using book = contacts();
    book.calledBy(laptop, T, T);
    book.contacts.heardFrom(laptop, T + 100_000);
    book.calledBy(laptop, T + 50_000, T + 110_000);
    expect(book.contacts.get(laptop)?.lastSeenAt).toBe(T + 100_000);
  });

  test("a last hearing ahead of this clock (set back since) gives way", () => {
    using book = contacts();
    book.contacts.heardFrom(laptop, T + 3_600_000);
    book.calledBy(laptop, T, T);
    expect(book.contacts.get(laptop)?.lastSeenAt).toBe(T);
  });

  test("this clock set minutes ahead: a peer that calls on is heard now, not those minutes ago", () => {
    const monotonic = { ms: 0 };
    using book = contacts(monotonic);
    book.calledBy(laptop, T, T);
    // 30 s on, NTP sets this clock 3 minutes ahead; the laptop calls again, at once.
    monotonic.ms = 30_000;
    book.calledBy(laptop, T + 30_000, T + 210_000);
    expect(book.contacts.get(laptop)?.lastSeenAt).toBe(T + 210_000);
  });
});
