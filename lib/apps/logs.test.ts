/**
 * `bucky app logs` for an app no device runs: its output is where it last ran, so the
 * answer names that device and says it is offline, rather than showing this device's
 * empty file as if the app had said nothing.
 */
import { describe, expect, test } from "bun:test";
import { signingKeyFromSeed } from "../../protocol/ed25519.ts";
import { BuckyError } from "../errors.ts";
import { testNodeContext } from "../node/test-node-context.ts";
import { claimKey } from "../replica/claims.ts";
import { appendLocalChangeset } from "../state/feed.ts";
import { foundingOps, openTestNode, seed, type TestNode, testZone } from "../state/test-db.ts";
import { appLogs, MAX_LOG_LINES, peerLogs } from "./logs.ts";
import { type AppReport, appKeys } from "./spec.ts";
import { TEST_PACKAGE, testManifest, testSpec } from "./test-spec.ts";

const LIVE_WINDOW_MS = 60_000;
const laptopKey = signingKeyFromSeed(seed(81));

/**
 * A zone of nas (this device) and laptop, never heard: notes keeps data, and laptop holds
 * it with no copy elsewhere, so no device runs it; or notes is pinned to laptop.
 */
function zone(placement: "any" | "laptop" = "any"): TestNode {
  const nas = openTestNode(80);
  appendLocalChangeset(
    nas.db,
    { zone: testZone.id, name: "nas", key: nas.key, seal: nas.seal },
    [
      ...foundingOps({ nas: nas.key, laptop: laptopKey }),
      {
        key: appKeys.spec("notes"),
        value: JSON.stringify(
          testSpec("notes", { placement, manifest: testManifest("notes", { data: ["db"] }) }),
        ),
      },
    ],
    1000,
  );
  const claim = { epoch: 1, since: "2026-11-29T08:00:00.000Z", from: null, lostAtMostMs: null };
  appendLocalChangeset(
    nas.db,
    { zone: testZone.id, name: "laptop", key: laptopKey, seal: nas.seal },
    [{ key: claimKey("laptop", "notes"), value: JSON.stringify(claim) }],
    1500,
  );
  return nas;
}

/** `device`'s report of notes, as its convergence writes it. */
function report(
  node: TestNode,
  device: "nas" | "laptop",
  state: AppReport["state"],
  since: string,
) {
  const value: AppReport = {
    app: "notes",
    state,
    version: "1.0.0",
    package: TEST_PACKAGE,
    url: null,
    sandboxed: true,
    restarts: 0,
    error: state === "crashed" ? "exited with code 1" : null,
    since,
  };
  const key = device === "nas" ? node.key : laptopKey;
  appendLocalChangeset(
    node.db,
    { zone: testZone.id, name: device, key, seal: node.seal },
    [{ key: appKeys.report(device, "notes"), value: JSON.stringify(value) }],
    2000,
  );
}

async function refusal(node: TestNode): Promise<{ code: string; message: string; hint?: string }> {
  try {
    const logs = await appLogs(testNodeContext(node, "nas"), "notes", 100, LIVE_WINDOW_MS);
    return { code: "none", message: JSON.stringify(logs) };
  } catch (error) {
    if (!(error instanceof BuckyError)) throw error;
    return {
      code: error.code,
      message: error.message,
      ...(error.hint ? { hint: error.hint } : {}),
    };
  }
}

describe("the logs of an app no device runs", () => {
  test("say it last ran on a device that is offline, which keeps its output, and what to do", async () => {
    const node = zone();
    report(node, "nas", "crashed", "2026-11-29T09:00:00.000Z");
    report(node, "laptop", "running", "2026-11-29T10:00:00.000Z");
    const said = await refusal(node);
    expect(said.code).toBe("E_UNAVAILABLE");
    expect(said.message).toBe(
      "notes runs on no device now (its data is on laptop, which is offline, and no other device has a copy of it): it last ran on laptop, which is offline, and its output is kept there",
    );
    expect(said.hint).toBe(
      "Bring laptop back online and run `bucky app logs notes` again; `bucky app status notes` says why no other device runs it.",
    );
  });

  test("say it has run nowhere yet when no device ever reported it running", async () => {
    const node = zone();
    report(node, "laptop", "pending", "2026-11-29T10:00:00.000Z");
    const said = await refusal(node);
    expect(said.code).toBe("E_UNAVAILABLE");
    expect(said.message).toEndWith(", and has run on none yet: it has no output anywhere");
  });

  test("pinned to a device that is offline, say so rather than trying to reach it", async () => {
    const node = zone("laptop");
    report(node, "laptop", "crashed", "2026-11-29T10:00:00.000Z");
    expect(await refusal(node)).toEqual({
      code: "E_UNAVAILABLE",
      message: "notes is to run on laptop, which is offline: its output is kept there",
      hint: "Bring laptop back online and run `bucky app logs notes` again.",
    });
  });
});

describe("another device's answer of an app's logs", () => {
  const answer = (value: unknown) => new TextEncoder().encode(JSON.stringify(value));

  test("is read as lines of text, named by the app and device asked", () => {
    expect(
      peerLogs(answer({ app: "bank", device: "nas", lines: ["a", "b"] }), "notes", "laptop"),
    ).toEqual({ app: "notes", device: "laptop", lines: ["a", "b"] });
  });

  test("of another shape, or too long, is refused in bucky's words", () => {
    for (const said of [
      { lines: "a" },
      { lines: [1] },
      { lines: null },
      [],
      5,
      { lines: Array.from({ length: MAX_LOG_LINES + 1 }, () => "a") },
    ])
      expect(() => peerLogs(answer(said), "notes", "laptop")).toThrow(
        "laptop answered with no logs of notes this device can read",
      );
    expect(() => peerLogs(new TextEncoder().encode("{"), "notes", "laptop")).toThrow(BuckyError);
  });
});
