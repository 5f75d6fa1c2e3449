/**
 * Who `bucky app status` names as running an app with data, from the zone's facts alone
 * (lib/replica/test-held-app.ts): the holder's claim, whether its presence is fresh, and
 * the copies the devices said they keep. Every device computes it from the same facts.
 */
import { describe, expect, test } from "bun:test";
import { signRevocation } from "../../protocol/documents.ts";
import { deviceIdFromPublicKey } from "../../protocol/ids.ts";
import type { DeviceName } from "../../protocol/names.ts";
import {
  claimNotes,
  HEARD_MS,
  heldNotesZone,
  laptopKey,
  reportNotes,
  writeAs,
} from "../replica/test-held-app.ts";
import { type TestNode, testOwner } from "../state/test-db.ts";
import { loadMembership } from "../sync/membership.ts";
import { appStatus, placementCandidates, type ZoneView } from "./status.ts";

const LIVE_WINDOW_MS = 60_000;

function view(node: TestNode, nowMs: number): ZoneView {
  return {
    db: node.db,
    deviceId: deviceIdFromPublicKey(node.key.publicKey),
    now: () => nowMs,
    membership: () => loadMembership(node.db, node.zone),
  };
}

/** What status says of who runs notes and where its data is. */
function said(node: TestNode, nowMs: number) {
  const status = appStatus(view(node, nowMs), "notes", LIVE_WINDOW_MS);
  return {
    state: status.state,
    device: status.device,
    reportedBy: status.reportedBy,
    holder: status.data?.holder ? [status.data.holder.device, status.data.holder.epoch] : null,
    standbys: status.data?.standbys.map((standby) => standby.device),
    takeover: status.data?.takeover,
    error: status.error,
  };
}

describe("the devices alive lately", () => {
  test("are those heard within the window either way of now: a clock set back keeps no dead device live", () => {
    const nas = heldNotesZone({ copyOnNas: true });
    const live = (nowMs: number) =>
      placementCandidates(view(nas, nowMs), LIVE_WINDOW_MS).live.map((member) => member.name);
    expect(live(HEARD_MS + 10_000)).toEqual(expect.arrayContaining(["laptop", "nas"]));
    expect(live(HEARD_MS + 10 * LIVE_WINDOW_MS)).toEqual(["nas"]);
    // nas's clock set back an hour, ten minutes after laptop was last heard: that hearing is
    // dated fifty minutes ahead, and laptop is not live for it.
    expect(live(HEARD_MS - 3_600_000 + 10 * 60_000)).toEqual(["nas"]);
  });
});

describe("who status names as running an app with data", () => {
  test("a holder heard from lately: the holder, with its standby", () => {
    expect(said(heldNotesZone({ copyOnNas: true }), HEARD_MS + 10_000)).toEqual({
      state: "running",
      device: "laptop",
      reportedBy: "laptop",
      holder: ["laptop", 1],
      standbys: ["nas"],
      takeover: null,
      error: null,
    });
  });

  test("a holder not heard from, with no takeover claimed yet: still the holder, and the takeover said beside it", () => {
    // The build before named nas (state pending, no standbys): a device not running the
    // app, while nas held back because it still heard laptop's bytes.
    expect(said(heldNotesZone({ copyOnNas: true }), HEARD_MS + 70_000)).toEqual({
      state: "running",
      device: "laptop",
      reportedBy: "laptop",
      holder: ["laptop", 1],
      standbys: ["nas"],
      takeover: { by: "nas", holderSilentMs: 70_000 },
      error: null,
    });
  });

  test("once the standby has claimed the next epoch: the standby, which runs it now", () => {
    const node = heldNotesZone({ copyOnNas: true });
    claimNotes(node, "nas", 2);
    reportNotes(node, "nas", "running");
    expect(said(node, HEARD_MS + 70_000)).toEqual({
      state: "running",
      device: "nas",
      reportedBy: "nas",
      holder: ["nas", 2],
      standbys: [],
      takeover: null,
      error: null,
    });
  });

  test("a holder revoked: its claim counts no more, and the device with a copy is to claim the app at once", () => {
    const node = heldNotesZone({ copyOnNas: true });
    const laptop = deviceIdFromPublicKey(laptopKey.publicKey);
    const revocation = signRevocation(
      { id: laptop, name: "laptop" as DeviceName, lastSeq: 2, issuedAt: 2 },
      testOwner,
    );
    writeAs(node, "nas", [
      { key: "devices/laptop/revoked", value: JSON.stringify(revocation.jws) },
    ]);
    expect(said(node, HEARD_MS + 10_000)).toEqual({
      state: "pending",
      device: "nas",
      reportedBy: null,
      holder: null,
      standbys: [],
      takeover: null,
      error: null,
    });
  });

  test("a holder not heard from, with no copy elsewhere: no device, and why", () => {
    const node = heldNotesZone({ copyOnNas: false });
    expect(said(node, HEARD_MS + 70_000)).toEqual({
      state: "pending",
      device: null,
      reportedBy: null,
      holder: ["laptop", 1],
      standbys: ["nas"],
      takeover: null,
      error: "its data is on laptop, which is offline, and no other device has a copy of it",
    });
  });
});
