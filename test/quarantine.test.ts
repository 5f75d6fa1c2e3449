/**
 * A device that signs two histories (a home put back from an older copy signs seqs its
 * peers already know) is quarantined on every device, the same way: the device that meets
 * a broken chain asks for what lies below it and forms the proof (the fork point), the
 * proof travels with sync, and every device sets aside what the device signed from the
 * fork on, so all hold the same state. Real daemons: x, z and w follow y, whose key the
 * test signs the fork with; no device is ever given both halves by the test.
 */
import { Database } from "bun:sqlite";
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { join } from "node:path";
import type { Changeset } from "../protocol/changeset.ts";
import {
  buckyJson,
  cleanUp,
  type Daemon,
  startDaemon,
  startZone,
  userState,
  waitFor,
} from "./harness.ts";
import { actAs, type Member } from "./member.ts";

afterAll(cleanUp);

interface YSays {
  readonly status: string;
  readonly quarantined: readonly unknown[];
}

let x: Daemon;
let z: Daemon;
let w: Daemon;
let y: Member;
let a: Changeset[];
let b: Changeset[];

/** The last seq of `author` that `home` holds. */
function headOf(home: string, author: string): number {
  const db = new Database(join(home, "state.db"), { readonly: true });
  try {
    return (
      db
        .query<{ seq: number | null }, [string]>(
          "SELECT max(seq) AS seq FROM changesets WHERE author = ?",
        )
        .get(author)?.seq ?? 0
    );
  } finally {
    db.close();
  }
}

/** What `home`'s `bucky status --json` says of y: its status and the quarantine notes. */
async function whatSays(home: string): Promise<YSays> {
  const status = await buckyJson<{
    devices: { name: string; status: string }[];
    quarantined?: unknown[];
  }>(["status", "--home", home]);
  return {
    status: status.devices.find((d) => d.name === "y")?.status ?? "missing",
    quarantined: status.quarantined ?? [],
  };
}

async function quarantinedOn(name: string, daemon: Daemon): Promise<YSays> {
  return waitFor(
    `${name} to quarantine y`,
    async () => {
      const says = await whatSays(daemon.home);
      return says.status === "quarantined" ? says : undefined;
    },
    20_000,
  );
}

/** Waits until every daemon holds y's changesets up to `seq` and no further, and the same state. */
async function sameState(
  daemons: readonly Daemon[],
  seq: number,
): Promise<Record<string, unknown>> {
  return waitFor(
    "the devices to hold the same state, y's cut at the fork",
    async () => {
      const states = await Promise.all(daemons.map((d) => userState(d.home)));
      const same = states.every((s) => JSON.stringify(s) === JSON.stringify(states[0]));
      const heads = daemons.map((d) => headOf(d.home, y.id));
      return same && heads.every((head) => head === seq) ? states[0] : undefined;
    },
    20_000,
  );
}

/** Waits until `daemon` says of y what `other` says: y quarantined, for the same seq. */
function agrees(name: string, daemon: Daemon, other: YSays): Promise<YSays> {
  return waitFor(
    `${name} to say of y what the others say`,
    async () => {
      const says = await whatSays(daemon.home);
      return JSON.stringify(says) === JSON.stringify(other) ? says : undefined;
    },
    20_000,
  );
}

/** The same daemon again, on the port its peers know it at. */
function restart(daemon: Daemon): Promise<Daemon> {
  const port = Number(new URL(daemon.addresses[0] as string).port);
  return startDaemon(daemon.home, {}, { port });
}

beforeAll(async () => {
  const zone = await startZone(["x", "y", "z", "w"]);
  x = zone.get("x") as Daemon;
  z = zone.get("z") as Daemon;
  w = zone.get("w") as Daemon;
  const yDaemon = zone.get("y") as Daemon;
  const yId = (await buckyJson<{ device: { id: string } }>(["status", "--home", yDaemon.home]))
    .device.id;
  // Everyone holds all of y's history before it stops and the test signs as y.
  await waitFor(
    "y's history everywhere",
    () => {
      const head = headOf(yDaemon.home, yId);
      return [x, z, w].every((d) => headOf(d.home, yId) === head) ? true : undefined;
    },
    20_000,
  );
  await yDaemon.stop();
  y = await actAs(yDaemon.home);
  // Two histories from the same seq on: a is one, b the other (one longer).
  const { seq, prev } = y.next();
  const branch = (tag: string, length: number) => {
    const made: Changeset[] = [];
    for (let i = 0; i < length; i++) {
      const last = made[i - 1];
      made.push(
        y.changeset([{ key: "test/fork", value: `"${tag}${i + 1}"` }], {
          seq: seq + i,
          prev: last ? last.hash : prev,
        }),
      );
    }
    return made;
  };
  a = branch("a", 2);
  b = branch("b", 3);
});

describe("a device that signed two histories", () => {
  test("is quarantined on every device from a broken chain, and all hold the same state", async () => {
    // x (and w, from x) take b while z is away; then z alone takes a.
    await z.stop();
    expect(
      (
        await y.push(
          x,
          b.map((c) => c.bytes),
        )
      ).applied,
    ).toBe(3);
    await waitFor("w to hold b", () => (headOf(w.home, y.id) === b[2]?.seq ? true : undefined));
    await Promise.all([x.stop(), w.stop()]);
    z = await restart(z);
    expect(
      (
        await y.push(
          z,
          a.map((c) => c.bytes),
        )
      ).applied,
    ).toBe(2);
    // x holds b, past z's head: z meets a broken chain, asks x what lies below, and
    // finds the fork; x learns the proof from z.
    x = await restart(x);
    const fork = (a[0] as Changeset).seq;
    const onZ = await quarantinedOn("z", z);
    expect(onZ.quarantined).toEqual([{ device: "y", seq: fork, keptThroughSeq: fork - 1 }]);
    expect(await agrees("x", x, onZ)).toEqual(onZ);
    // Both set aside both histories from the fork on: the same state, whichever they took.
    const state = await sameState([x, z], fork - 1);
    expect(state["test/fork"]).toBeUndefined();
  });

  test("and stays so, and spreads, after the device that saw both is gone", async () => {
    await x.kill();
    // w holds b, past z's head: it learns from z alone.
    w = await restart(w);
    const onZ = await whatSays(z.home);
    expect(onZ.status).toBe("quarantined");
    expect(await agrees("w", w, onZ)).toEqual(onZ);
    await sameState([z, w], (a[0] as Changeset).seq - 1);
  });

  test("revoked, every device drops both its histories from the fork on, and all agree again", async () => {
    // The owner key's device comes back, and revokes y.
    x = await restart(x);
    const fork = (a[0] as Changeset).seq;
    await buckyJson(["devices", "revoke", "y", "--home", x.home]);
    const agreed = await waitFor(
      "x, z and w to hold the same state again",
      async () => {
        const states = await Promise.all([x, z, w].map((d) => userState(d.home)));
        const same = states.every((s) => JSON.stringify(s) === JSON.stringify(states[0]));
        const heads = [x, z, w].map((d) => headOf(d.home, y.id));
        return same && heads.every((head) => head === fork - 1) ? states[0] : undefined;
      },
      20_000,
    );
    expect(agreed?.["test/fork"]).toBeUndefined();
  });
});
