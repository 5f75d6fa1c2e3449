/**
 * A device that signs two histories (a home put back from an older copy signs seqs its
 * peers already know) is quarantined on every device, the same way: the device that meets
 * a broken chain asks for what lies below it and forms the proof (the fork point), the
 * proof travels with sync, and every device refuses what the device signs from the fork
 * on. Nothing is dropped: what a device took past the fork before the proof stays there
 * until a later write to the same key replaces it. Real daemons: x, z and w follow y,
 * whose key the test signs the fork with; no device is ever given both halves by the test.
 */
import { Database } from "bun:sqlite";
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { join } from "node:path";
import type { Changeset } from "../protocol/changeset.ts";
import { makeProof } from "../protocol/equivocation.ts";
import {
  bucky,
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
let yHome: string;
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

/** What `home`'s `bucky status --json` says of y (or `name`): its status and the quarantine notes. */
async function whatSays(home: string, name = "y"): Promise<YSays> {
  const status = await buckyJson<{
    devices: { name: string; status: string }[];
    quarantined?: unknown[];
  }>(["status", "--home", home]);
  return {
    status: status.devices.find((d) => d.name === name)?.status ?? "missing",
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

/** What `daemon` holds of y: its head, and the value of the key the two histories write. */
async function heldOf(daemon: Daemon): Promise<{ head: number; fork: unknown }> {
  return { head: headOf(daemon.home, y.id), fork: (await userState(daemon.home))["test/fork"] };
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
  yHome = yDaemon.home;
  y = await actAs(yHome);
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
  test("is quarantined on every device from a broken chain; each keeps what it took, and takes nothing more of it", async () => {
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
    expect(onZ.quarantined).toEqual([{ device: "y", seq: fork }]);
    expect(await agrees("x", x, onZ)).toEqual(onZ);
    // Nothing is dropped, and neither takes the other's history: each holds what it took.
    expect(await heldOf(x)).toEqual({ head: fork + 2, fork: expect.stringMatching(/^b/) });
    expect(await heldOf(z)).toEqual({ head: fork + 1, fork: expect.stringMatching(/^a/) });
    // What y signs now, after either history, is taken nowhere: its requests are refused
    // (a member passing it on is refused it too: lib/sync/ingest.test.ts).
    const after = (from: Changeset) =>
      y.changeset([{ key: "test/fork", value: '"after"' }], { seq: from.seq + 1, prev: from.hash })
        .bytes;
    for (const [daemon, from] of [
      [x, b[2]],
      [z, a[1]],
    ] as const)
      await expect(y.push(daemon, [after(from as Changeset)])).rejects.toThrow("quarantined");
    expect(await heldOf(x)).toEqual({ head: fork + 2, fork: expect.stringMatching(/^b/) });
    expect(await heldOf(z)).toEqual({ head: fork + 1, fork: expect.stringMatching(/^a/) });
  });

  test("and stays so, and spreads, after the device that saw both is gone", async () => {
    await x.kill();
    // w holds b, past z's head: it learns from z alone.
    w = await restart(w);
    const onZ = await whatSays(z.home);
    expect(onZ.status).toBe("quarantined");
    expect(await agrees("w", w, onZ)).toEqual(onZ);
    const fork = (a[0] as Changeset).seq;
    expect(await heldOf(w)).toEqual({ head: fork + 2, fork: expect.stringMatching(/^b/) });
    expect(await heldOf(z)).toEqual({ head: fork + 1, fork: expect.stringMatching(/^a/) });
  });

  test("the device itself learns it from its peers' answers, stays up, writes nothing, and says so once", async () => {
    // y's home holds its history below the fork and no proof: only its peers can tell it,
    // and they refuse every other request of it.
    const yDaemon = await startDaemon(yHome);
    try {
      const fork = (a[0] as Changeset).seq;
      const onY = await waitFor(
        "y to learn it is quarantined",
        async () => {
          const says = await whatSays(yHome);
          return says.status === "quarantined" ? says : undefined;
        },
        20_000,
      );
      expect(onY.quarantined).toEqual([{ device: "y", seq: fork }]);
      const refused = await bucky(["state", "set", "test/own", "1", "--home", yHome, "--json"]);
      expect(refused.exitCode).not.toBe(0);
      expect(JSON.parse(refused.stderr).error).toMatchObject({
        code: "E_QUARANTINED",
        message: expect.stringContaining("this device is quarantined"),
        hint: expect.stringContaining("bucky devices revoke"),
      });
      // Rounds later it is still up, has said it once, and asks its peers for nothing else.
      const pullsOfY = () =>
        z
          .log()
          .split("\n")
          .filter((line) => / path=\/v1\/sync\/pull .* peer=y\b/.test(line));
      const seen = pullsOfY().length;
      const from = z.log().length;
      await waitFor("three more of y's pulls answered by z", () =>
        pullsOfY().length >= seen + 3 ? true : undefined,
      );
      expect(
        pullsOfY()
          .slice(seen)
          .every((line) => line.includes(" status=200 ")),
      ).toBe(true);
      expect(z.log().slice(from)).not.toMatch(/ path=\/v1\/sync\/push .* peer=y\b/);
      const said = yDaemon
        .log()
        .split("\n")
        .filter((line) => line.includes("this device is quarantined: it writes nothing"));
      expect(said).toHaveLength(1);
      expect(yDaemon.log()).not.toContain(" FATAL ");
      expect((await whatSays(yHome)).status).toBe("quarantined");
    } finally {
      await yDaemon.stop();
    }
  });

  test("the device itself, holding the proof, still starts and writes nothing, saying what to do", async () => {
    const proof = makeProof((a[0] as Changeset).bytes, (b[0] as Changeset).bytes);
    const db = new Database(join(yHome, "state.db"));
    try {
      db.query(
        "INSERT OR REPLACE INTO quarantine (device_id, seq, detected_at, kept, conflicting) VALUES (?, ?, 0, ?, ?)",
      ).run(y.id, proof.seq, proof.halves[0].bytes, proof.halves[1].bytes);
    } finally {
      db.close();
    }
    const yDaemon = await startDaemon(yHome);
    try {
      const refused = await bucky(["state", "set", "test/own", "1", "--home", yHome, "--json"]);
      expect(refused.exitCode).not.toBe(0);
      expect(JSON.parse(refused.stderr).error).toMatchObject({
        code: "E_QUARANTINED",
        message: expect.stringContaining("this device is quarantined"),
        hint: expect.stringContaining("bucky devices revoke"),
      });
    } finally {
      await yDaemon.stop();
    }
  });

  test("revoked, both histories past the fork go on every device, which all agree at once", async () => {
    // The owner key's device comes back, and revokes y: the revocation keeps what y signed
    // before the fork, so x drops b, z drops a, and w drops b when it hears of it.
    x = await restart(x);
    const fork = (a[0] as Changeset).seq;
    await buckyJson(["devices", "revoke", "y", "--home", x.home]);
    const agreed = await waitFor(
      "x, z and w to hold y up to the fork, and the same state",
      async () => {
        const held = await Promise.all([x, z, w].map(heldOf));
        const states = await Promise.all([x, z, w].map((d) => userState(d.home)));
        const same = states.every((s) => JSON.stringify(s) === JSON.stringify(states[0]));
        return same && held.every((h) => h.head === fork - 1) ? held : undefined;
      },
      20_000,
    );
    expect(agreed).toEqual([0, 1, 2].map(() => ({ head: fork - 1, fork: undefined })));
  });
});

describe("a device that signed two histories of one length", () => {
  test("is quarantined on every device: a peer holding another head at the asker's seq sends it", async () => {
    const zone = await startZone(["p", "q", "v"]);
    const p = zone.get("p") as Daemon;
    const q = zone.get("q") as Daemon;
    const vDaemon = zone.get("v") as Daemon;
    const vId = (await buckyJson<{ device: { id: string } }>(["status", "--home", vDaemon.home]))
      .device.id;
    await waitFor(
      "v's history everywhere",
      () => {
        const head = headOf(vDaemon.home, vId);
        return [p, q].every((d) => headOf(d.home, vId) === head) ? true : undefined;
      },
      20_000,
    );
    await vDaemon.stop();
    const v = await actAs(vDaemon.home);
    // One changeset to p, another of the same seq after the same one to q, then silence:
    // neither holds a seq the other lacks.
    const one = v.changeset([{ key: "test/even", value: '"p"' }]);
    const other = v.changeset([{ key: "test/even", value: '"q"' }]);
    // Both at once, on connections already open. Either may still pass its half on to the
    // other (a push on change, on a connection it holds) before the other's own half reaches
    // it: that one then meets both halves itself and refuses the second. At least one half
    // is taken; either way every device must end quarantining v.
    await Promise.all([v.push(p, []), v.push(q, [])]);
    const [toP, toQ] = await Promise.all([v.push(p, [one.bytes]), v.push(q, [other.bytes])]);
    expect([0, 1]).toContain(toP.applied);
    expect([0, 1]).toContain(toQ.applied);
    expect(toP.applied + toQ.applied).toBeGreaterThanOrEqual(1);
    const says = async (daemon: Daemon) => {
      const status = await buckyJson<{ quarantined?: unknown[] }>([
        "status",
        "--home",
        daemon.home,
      ]);
      return status.quarantined ?? [];
    };
    for (const [name, daemon] of [
      ["p", p],
      ["q", q],
    ] as const)
      expect(
        await waitFor(
          `${name} to quarantine v`,
          async () => {
            const notes = await says(daemon);
            return notes.length > 0 ? notes : undefined;
          },
          20_000,
        ),
      ).toEqual([{ device: "v", seq: one.seq }]);
  });
});

describe("a device revoked before the proof of its fork reached the revoking device", () => {
  test("is said on every device once the proof forms, dropping nothing; revoked again, it is cut before the fork and all agree", async () => {
    const zone = await startZone(["p", "s", "r"]);
    let p = zone.get("p") as Daemon;
    let r = zone.get("r") as Daemon;
    const sDaemon = zone.get("s") as Daemon;
    const sId = (await buckyJson<{ device: { id: string } }>(["status", "--home", sDaemon.home]))
      .device.id;
    await waitFor(
      "s's history everywhere",
      () => {
        const head = headOf(sDaemon.home, sId);
        return [p, r].every((d) => headOf(d.home, sId) === head) ? true : undefined;
      },
      20_000,
    );
    await sDaemon.stop();
    const s = await actAs(sDaemon.home);
    const { seq: fork, prev } = s.next();
    const branch = (tag: string, length: number) => {
      const made: Changeset[] = [];
      for (let i = 0; i < length; i++)
        made.push(
          s.changeset([{ key: "test/fork", value: `"${tag}${i + 1}"` }], {
            seq: fork + i,
            prev: made[i - 1]?.hash ?? prev,
          }),
        );
      return made;
    };
    const one = branch("a", 3);
    const other = branch("b", 2);
    // p (the owner key) takes one history while r is away, and revokes s keeping all of it.
    const restartOn = (daemon: Daemon) =>
      startDaemon(daemon.home, {}, { port: Number(new URL(daemon.addresses[0] as string).port) });
    await r.stop();
    expect(
      (
        await s.push(
          p,
          one.map((c) => c.bytes),
        )
      ).applied,
    ).toBe(3);
    // Not waited for: r is away, and is to hear of it only later.
    const revoked = await buckyJson<{ keptSeq: number }>([
      ...["devices", "revoke", "s", "--no-wait", "--home", p.home],
    ]);
    expect(revoked.keptSeq).toBe(fork + 2);
    // r, back while p is away, takes the other history (s is still a member there).
    await p.stop();
    r = await restartOn(r);
    expect(
      (
        await s.push(
          r,
          other.map((c) => c.bytes),
        )
      ).applied,
    ).toBe(2);
    // Both up: r meets a broken chain of s within what the revocation keeps, searches it,
    // forms the proof, and every device says it, with the cut a new revocation signs; a
    // proof alone drops nothing (a thief holding the key could sign one).
    p = await restartOn(p);
    const expected = [
      { device: "s", keptSeq: fork + 2, seq: fork, recutSeq: fork - 1, admitted: [] },
    ];
    for (const daemon of [p, r])
      await waitFor(
        `${daemon.home} to say s's fork within its revocation`,
        async () => {
          const status = await buckyJson<{ revokedForks: unknown[] }>([
            "status",
            "--home",
            daemon.home,
          ]);
          return JSON.stringify(status.revokedForks) === JSON.stringify(expected)
            ? true
            : undefined;
        },
        30_000,
      );
    expect(headOf(p.home, sId)).toBe(fork + 2);
    // The owner revokes it again: before the fork, on every device.
    const again = await buckyJson<{ keptSeq: number }>([
      "devices",
      "revoke",
      "s",
      "--home",
      p.home,
    ]);
    expect(again.keptSeq).toBe(fork - 1);
    const agreed = await waitFor(
      "p and r to hold s up to before the fork, and the same state",
      async () => {
        const heads = [p, r].map((d) => headOf(d.home, sId));
        const states = await Promise.all([p, r].map((d) => userState(d.home)));
        const same = JSON.stringify(states[0]) === JSON.stringify(states[1]);
        return same && heads.every((head) => head === fork - 1) ? states[0] : undefined;
      },
      30_000,
    );
    expect(agreed?.["test/fork"]).toBeUndefined();
    for (const daemon of [p, r]) expect((await whatSays(daemon.home, "s")).status).toBe("revoked");
    // Three restarts and two waits of up to 30 s: past the suite's default under load.
  }, 120_000);
});
