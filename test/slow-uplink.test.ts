/**
 * App data over a slow uplink, in the namespace lab: the notes app's holder sends to the
 * internet at 1 Mbit/s, as many homes do, and its standby must still catch up. A device
 * once gave a peer's whole answer one time, 5 s: the 800 KB of new data here took longer
 * than that to cross such a link, and the standby asked again forever (this test fails so
 * with the build before the fix).
 */
import { describe, expect, test } from "bun:test";
import { waitFor } from "./harness.ts";
import { notesPair, writeNotes } from "./notes-pair.ts";

// Heartbeats as a user's (30 s, a device gone after 90 s): the transfer fills the link for
// seconds, and the holder's own calls to its peers wait behind it (heartbeats of 1 s had
// the standby take the holder for gone and take over, its writes then a conflict copy).
const { lab, status, holder, standby } = notesPair({
  BUCKY_CONVERGE_INTERVAL_MS: "300",
  BUCKY_SYNC_INTERVAL_MS: "300",
});

describe("a holder behind a slow uplink", () => {
  test("its standby catches up with what it wrote, seen from the standby", async () => {
    lab.uplink(holder(), 1000);
    try {
      // 80 notes: about 800 KB, 6.5 s at 1 Mbit/s.
      await writeNotes((await status(holder())).url as string, 80);
      const wroteAt = Date.now();
      const caughtUp = await waitFor(
        "the standby to have every note",
        async () => {
          const s = await status(standby());
          const copy = s.data?.standbys.find((position) => position.device === standby());
          return copy?.lagMs === 0 && Date.parse(copy.snapshotAt ?? "") >= wroteAt ? s : undefined;
        },
        90_000,
      );
      expect(caughtUp.data?.holder?.device).toBe(holder());
    } finally {
      lab.uplink(holder(), undefined);
    }
  }, 120_000);
});
