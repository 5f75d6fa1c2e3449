/**
 * For tests: the status of notes, run by laptop and held there at epoch 1, whose standby
 * nas is to take it over: laptop has not been heard from for `holderSilentMs`, and no
 * claim says the takeover happened yet (lib/replica/zone-holding.ts claimedHolding).
 */
import type { AppStatus } from "./status.ts";

export function takeoverDueStatus(holderSilentMs: number | null): AppStatus {
  return {
    app: "notes",
    version: "1.0.0",
    state: "running",
    device: "laptop",
    url: null,
    sandboxed: true,
    engine: "bubblewrap",
    image: null,
    restarts: 0,
    stateBytes: 0,
    stateMaxBytes: 16 * 1024 * 1024,
    error: null,
    reportedBy: "laptop",
    placement: "any",
    desired: "running",
    package: `sha256:${"ab".repeat(32)}` as AppStatus["package"],
    exposure: "zone",
    shared: null,
    data: {
      holder: {
        device: "laptop",
        epoch: 1,
        since: "2026-11-30T06:00:00.000Z",
        lostAtMostMs: null,
        lostUnknownReason: null,
        snapshotAt: null,
        restoredCopy: null,
      },
      standbysAsked: 1,
      standbys: [
        {
          device: "nas",
          snapshotAt: null,
          lagMs: 0,
          lagBytes: 0,
          verifiedAt: null,
          damagedBlobs: null,
        },
      ],
      movingTo: null,
      takeover: { by: "nas", holderSilentMs },
      conflicts: [],
    },
  };
}
