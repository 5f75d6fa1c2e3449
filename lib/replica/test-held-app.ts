/**
 * A zone of two devices for tests of what is said about an app with data: nas (the test
 * node's own device) and laptop. notes keeps data; laptop holds it (epoch 1) and reported
 * it running; both were heard alive at HEARD_MS. With a copy, nas keeps one of epoch 1 and
 * laptop said that copy is up to date.
 */
import { signFacts } from "../../protocol/device-facts.ts";
import { signingKeyFromSeed } from "../../protocol/ed25519.ts";
import { signPresence } from "../../protocol/presence.ts";
import { type AppReport, appKeys } from "../apps/spec.ts";
import { TEST_PACKAGE, testManifest, testSpec } from "../apps/test-spec.ts";
import type { ReplicaFacts } from "../facts/payload.ts";
import { appendLocalChangeset } from "../state/feed.ts";
import { foundingOps, openTestNode, seed, type TestNode, testZone } from "../state/test-db.ts";
import { receiveFacts } from "../sync/facts.ts";
import { loadMembership } from "../sync/membership.ts";
import { receivePresence } from "../sync/presence.ts";
import { claimKey } from "./claims.ts";

export const HEARD_MS = Date.parse("2026-11-30T07:00:00.000Z");
export const laptopKey = signingKeyFromSeed(seed(81));
type Device = "nas" | "laptop";

export function heldNotesZone(options: { readonly copyOnNas: boolean }): TestNode {
  const nas = openTestNode(80);
  const manifest = testManifest("notes", { data: ["db"] });
  writeAs(nas, "nas", [
    ...foundingOps({ nas: nas.key, laptop: laptopKey }),
    { key: appKeys.spec("notes"), value: JSON.stringify(testSpec("notes", { manifest })) },
  ]);
  claimNotes(nas, "laptop", 1);
  reportNotes(nas, "laptop", "running");
  hearAlive(nas, "laptop", HEARD_MS);
  hearAlive(nas, "nas", HEARD_MS);
  const context = { zone: nas.zone, membership: loadMembership(nas.db, nas.zone), nowMs: HEARD_MS };
  const snapshot = { epoch: 1, seq: 4, at: HEARD_MS - 5_000 };
  const held: ReplicaFacts = {
    held: {
      notes: {
        ...snapshot,
        bytes: 100,
        standbys: options.copyOnNas
          ? { nas: { ...snapshot, ackedAtMs: HEARD_MS - 4_000, lagMs: 0, lagBytes: 0 } }
          : {},
      },
    },
    copies: {},
    conflicts: {},
  };
  const copy: ReplicaFacts = {
    held: {},
    copies: options.copyOnNas
      ? { notes: { ...snapshot, final: false, holder: "laptop", bytes: 100 } }
      : {},
    conflicts: {},
  };
  receiveFacts(
    nas.db,
    [
      signFacts(nas.zone, HEARD_MS, { replicas: held }, laptopKey).bytes,
      signFacts(nas.zone, HEARD_MS, { replicas: copy }, nas.key).bytes,
    ],
    context,
  );
  return nas;
}

/** `device` says it is alive at `atMs`, and nas hears it then. */
export function hearAlive(node: TestNode, device: Device, atMs: number) {
  const key = device === "nas" ? node.key : laptopKey;
  const context = { zone: node.zone, membership: loadMembership(node.db, node.zone), nowMs: atMs };
  receivePresence(node.db, [signPresence(node.zone, atMs, key).bytes], context);
}

/** Writes `ops` to the zone state as `device` wrote them. */
export function writeAs(node: TestNode, device: Device, ops: { key: string; value: string }[]) {
  const key = device === "nas" ? node.key : laptopKey;
  appendLocalChangeset(
    node.db,
    { zone: testZone.id, name: device, key, seal: node.seal },
    ops,
    1000,
  );
}

/** `device` claims notes's data with `epoch`, as it does when it takes the app over. */
export function claimNotes(node: TestNode, device: Device, epoch: number) {
  const value = { epoch, since: "2026-11-30T06:00:00.000Z", from: null, lostAtMostMs: null };
  writeAs(node, device, [{ key: claimKey(device, "notes"), value: JSON.stringify(value) }]);
}

/** `device`'s report of notes, as its convergence writes it. */
export function reportNotes(node: TestNode, device: Device, state: AppReport["state"]) {
  const value: AppReport = {
    app: "notes",
    state,
    version: "1.0.0",
    package: TEST_PACKAGE,
    url: `unix:/home/${device}/.bucky/apps/notes/door.sock`,
    sandboxed: true,
    restarts: 0,
    error: null,
    since: "2026-11-30T06:00:00.000Z",
  };
  writeAs(node, device, [{ key: appKeys.report(device, "notes"), value: JSON.stringify(value) }]);
}
