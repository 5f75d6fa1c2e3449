/**
 * Who may write a key is decided by its exact spelling (protocol/write-rules.ts): a key
 * that differs from a ruled one only in case (`Devices/…`, `Nodes/<other>/…`) is open to
 * any member, and must be read as the other key it is. Read with SQL's LIKE, which
 * ignores case, one such key took every device's zone down (`Devices/x/doc` failed the
 * opening's check of the device documents: E_INTEGRITY, on every device it reached) and
 * let a member speak for another (`Nodes/a/engine` said what a can run: a test of
 * lib/store/reads.test.ts).
 */
import { afterAll, describe, expect, test } from "bun:test";
import {
  bucky,
  buckyJson,
  cleanUp,
  type Daemon,
  startDaemon,
  startZone,
  waitFor,
} from "./harness.ts";

afterAll(cleanUp);

interface Status {
  devices: { name: string; status: string }[];
}

describe("keys that differ from ruled ones only in case", () => {
  let zone: Map<string, Daemon>;

  test("written by one member, one reaches the other", async () => {
    zone = await startZone(["a", "b"]);
    const b = zone.get("b") as Daemon;
    await buckyJson(["state", "set", "Devices/x/doc", '"not a document"', "--home", b.home]);
    const a = zone.get("a") as Daemon;
    await waitFor("the keys on a", async () => {
      const { entries } = await buckyJson<{ entries: { key: string }[] }>([
        "state",
        "list",
        "--home",
        a.home,
      ]);
      const keys = entries.map((entry) => entry.key);
      return keys.includes("Devices/x/doc") ? true : undefined;
    });
  });

  test("do not stop a device from opening its zone, with or without its node", async () => {
    const a = zone.get("a") as Daemon;
    expect(await a.stop()).toBe(0);
    const status = await bucky(["status", "--json", "--home", a.home]);
    expect([status.exitCode, status.stderr]).toEqual([0, ""]);
    expect((JSON.parse(status.stdout) as Status).devices.map((d) => d.name)).toEqual(["a", "b"]);
    expect((await bucky(["zone", "show", "--json", "--home", a.home])).exitCode).toBe(0);
    const again = await startDaemon(a.home);
    expect((await buckyJson<Status>(["status", "--home", a.home])).devices.length).toBe(2);
    await again.stop();
  });
});
