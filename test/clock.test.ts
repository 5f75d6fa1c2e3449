/**
 * A device whose clock runs ahead: the others refuse its records (changesets, presence,
 * facts), and every device says so, naming it, who refuses it and by how much, instead of
 * calling it offline and, a week on, telling the owner to revoke it.
 */
import { afterAll, describe, expect, test } from "bun:test";
import {
  buckyJson,
  cleanUp,
  type Daemon,
  startDaemon,
  startZone,
  userState,
  waitFor,
} from "./harness.ts";

afterAll(cleanUp);

interface ClockAheadNote {
  kind: "clock-ahead";
  device: string;
  seconds: number;
  by: string[];
  since: string;
}

const AHEAD_S = 120;

/** The clock-ahead notes `bucky status` gives on `home`, once there is one naming `by` all. */
async function clockNotes(home: string, by: readonly string[]): Promise<ClockAheadNote[]> {
  return waitFor(
    `the zone's word that gamma's clock is ahead, on ${home}`,
    async () => {
      const status = await buckyJson<{
        reliability: { notes: { kind: string }[]; warnings: string[] };
      }>(["status", "--home", home]);
      const notes = status.reliability.notes.filter(
        (note): note is ClockAheadNote => note.kind === "clock-ahead",
      );
      return notes.some((note) => note.by.length === by.length) ? notes : undefined;
    },
    30_000,
  );
}

describe("a device whose clock is ahead", () => {
  test("is named on every device, with who refuses it and by how much; its writes stay out", async () => {
    const env = { BUCKY_HEARTBEAT_MS: "200" };
    const daemons = await startZone(["alpha", "beta", "gamma"], env);
    const home = (name: string) => (daemons.get(name) as Daemon).home;
    await buckyJson(["state", "set", "apps/before", "1", "--home", home("gamma")]);
    await waitFor("alpha to have gamma's write", async () =>
      (await userState(home("alpha")))["apps/before"] === 1 ? true : undefined,
    );

    // gamma's clock jumps two minutes ahead (past the minute a record may be ahead).
    await (daemons.get("gamma") as Daemon).stop();
    await startDaemon(home("gamma"), { ...env, BUCKY_CLOCK_OFFSET_MS: String(AHEAD_S * 1000) });
    await buckyJson(["state", "set", "apps/ahead", "2", "--home", home("gamma")]);

    // Asked on beta, and on gamma itself (the others' facts are not ahead of its clock).
    for (const name of ["beta", "gamma"]) {
      const [note, ...others] = await clockNotes(home(name), ["alpha", "beta"]);
      expect(others).toEqual([]);
      expect(note).toEqual({
        kind: "clock-ahead",
        device: "gamma",
        seconds: expect.any(Number),
        by: ["alpha", "beta"],
        since: expect.any(String),
      });
      // Its request times say how far (loopback: within a few seconds of the offset).
      expect(Math.abs((note?.seconds ?? 0) - AHEAD_S)).toBeLessThan(10);
      const { reliability } = await buckyJson<{ reliability: { warnings: string[] } }>([
        "status",
        "--home",
        home(name),
      ]);
      expect(reliability.warnings.filter((w) => w.startsWith("gamma's clock"))).toEqual([
        `gamma's clock is ${note?.seconds} s ahead of alpha and beta's: its changes are refused until it is set right, so it looks offline to the zone; turn on network time on gamma (\`timedatectl set-ntp true\`), or, if its clock is right, on alpha and beta`,
      ]);
    }
    // What gamma wrote ahead is refused, as the note says.
    expect((await userState(home("alpha")))["apps/ahead"]).toBeUndefined();
  }, 90_000);
});
