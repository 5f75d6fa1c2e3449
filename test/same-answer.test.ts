/**
 * Every command that reads the zone gives the same answer on every device: a zone of
 * three, each device having done something (an app placed on beta, installed from alpha;
 * a backup target only beta reaches, and its backup there; a person; a rule from gamma; an
 * agent from beta; a public file from gamma; an invitation from alpha), every read command
 * asked on all three and compared as JSON.
 * Then beta, which ran the app and reached the target, is killed, and alpha and gamma must
 * still agree. What may differ is named below with why: who is asking, and what each
 * device sees of the network from where it is.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { cpSync, mkdirSync, writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import {
  bucky,
  buckyJson,
  cleanUp,
  type Daemon,
  enableGateway,
  scratchDir,
  startZone,
  waitFor,
} from "./harness.ts";

afterAll(cleanUp);

/** Read commands, each with the parts of its answer that are the asking device's own. */
const READS: { args: string[]; own: (path: string) => boolean }[] = [
  // Who asks, and where its home is.
  { args: ["status"], own: (p) => p === ".home" || p.startsWith(".device.") },
  // Each device's view of the network: when it last heard each one, by which route and
  // address, how far; and which row is itself.
  {
    args: ["devices"],
    own: (p) => /^\.devices\.\d+\.(lastSeenAt|self|route|address|rttMs)$/.test(p),
  },
  { args: ["app", "list"], own: () => false },
  { args: ["app", "status", "notes"], own: () => false },
  { args: ["app", "limit", "notes"], own: () => false },
  { args: ["rule", "list"], own: () => false },
  { args: ["relay", "list"], own: () => false },
  { args: ["user", "list"], own: () => false },
  { args: ["agent", "list"], own: () => false },
  { args: ["agent", "log"], own: () => false },
  { args: ["traffic"], own: () => false },
  // How this device reaches each target, and its own last backup there (as its help says).
  {
    args: ["backup", "target", "list"],
    own: (p) => /^\.targets\.\d+\.(reach|lastBackup|lastVerify)(\.|$)/.test(p),
  },
  { args: ["store", "list"], own: () => false },
  { args: ["state", "list", "system/"], own: () => false },
  { args: ["zone", "show"], own: () => false },
  { args: ["invite", "list"], own: () => false },
  { args: ["backup", "list"], own: () => false },
  // Not `status --disk`: asking it measures the asked device's space anew (its log grows by
  // every command), which the others show a moment later, with when it was measured.
];

/** The paths at which `a` and `b` differ, leaves only, as `.a.b.0.c`. */
function differences(a: unknown, b: unknown, path = ""): string[] {
  if (JSON.stringify(a) === JSON.stringify(b)) return [];
  if (
    typeof a === "object" &&
    a !== null &&
    typeof b === "object" &&
    b !== null &&
    Array.isArray(a) === Array.isArray(b)
  ) {
    const keys = new Set([...Object.keys(a), ...Object.keys(b)]);
    return [...keys].flatMap((key) =>
      differences(
        (a as Record<string, unknown>)[key],
        (b as Record<string, unknown>)[key],
        `${path}.${key}`,
      ),
    );
  }
  return [path];
}

/** What differs between the devices' answers to each read, but what is their own. */
async function disagreements(devices: readonly Daemon[]): Promise<Record<string, string[]>> {
  const out: Record<string, string[]> = {};
  for (const { args, own } of READS) {
    const answers = await Promise.all(
      devices.map(async (d) => {
        const run = await bucky([...args, "--home", d.home, "--json"]);
        return run.exitCode === 0 ? JSON.parse(run.stdout) : { failed: JSON.parse(run.stderr) };
      }),
    );
    const differ = answers
      .slice(1)
      .flatMap((answer) => differences(answers[0], answer))
      .filter((path) => !own(path));
    if (differ.length > 0) out[args.join(" ")] = [...new Set(differ)];
  }
  return out;
}

let alpha: Daemon;
let beta: Daemon;
let gamma: Daemon;

beforeAll(async () => {
  const zone = await startZone(["alpha", "beta", "gamma"], { BUCKY_HEARTBEAT_MS: "500" });
  [alpha, beta, gamma] = ["alpha", "beta", "gamma"].map((name) => zone.get(name) as Daemon) as [
    Daemon,
    Daemon,
    Daemon,
  ];
  // Two gateways: each lists where an app answers, its own among the others.
  await enableGateway(alpha.home);
  await enableGateway(gamma.home);
  const notes = join(scratchDir(), "notes");
  cpSync(resolve(import.meta.dir, "../fixtures/apps/notes"), notes, { recursive: true });
  await buckyJson(["app", "install", notes, "--device", "beta", "--home", alpha.home]);
  const usb = join(scratchDir(), "usb");
  mkdirSync(usb);
  await buckyJson(["backup", "target", "add", "usb", usb, "--home", beta.home]);
  await buckyJson(["user", "add", "kid", "--home", alpha.home]);
  await buckyJson([
    "rule",
    "add",
    "block",
    "--app",
    "notes",
    "--user",
    "kid",
    "--home",
    gamma.home,
  ]);
  await buckyJson(["agent", "grant", "helper", "--read", "status,apps", "--home", beta.home]);
  const file = join(scratchDir(), "hello.txt");
  writeFileSync(file, "hello");
  await buckyJson(["put", file, "--public", "--home", gamma.home]);
  await buckyJson(["invite", "--home", alpha.home]);
  await buckyJson(["backup", "run", "--home", beta.home]);
});

describe("every read command", () => {
  test("gives the same answer on every device", async () => {
    // Each write above was answered once another device held it; the third may hear of
    // it a sync later.
    await waitFor(
      "the three devices to agree",
      async () => {
        const differ = await disagreements([alpha, beta, gamma]);
        return Object.keys(differ).length === 0 ? true : undefined;
      },
      15_000,
    ).catch(async () => expect(await disagreements([alpha, beta, gamma])).toEqual({}));
    // Agreeing is not enough: gamma lists the snapshot in the target only beta reaches.
    const listed = await buckyJson<{ snapshots: { device: string }[] }>([
      "backup",
      "list",
      "--home",
      gamma.home,
    ]);
    expect(listed.snapshots.map((s) => s.device)).toContain("beta");
  });

  test("gives the same answer on the devices left once the one that ran the app is killed", async () => {
    await beta.kill();
    await waitFor(
      "alpha and gamma to see beta offline",
      async () => {
        const views = await Promise.all(
          [alpha, gamma].map((d) =>
            buckyJson<{ devices: { name: string; status: string }[] }>([
              "devices",
              "--home",
              d.home,
            ]),
          ),
        );
        return views.every((v) => v.devices.find((d) => d.name === "beta")?.status === "offline")
          ? true
          : undefined;
      },
      15_000,
    );
    await waitFor(
      "alpha and gamma to agree",
      async () => {
        const differ = await disagreements([alpha, gamma]);
        return Object.keys(differ).length === 0 ? true : undefined;
      },
      15_000,
    ).catch(async () => expect(await disagreements([alpha, gamma])).toEqual({}));
  });
});
