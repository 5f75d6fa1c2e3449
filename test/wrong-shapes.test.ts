/**
 * Zone-state values another member writes in a shape not theirs: any member writes the
 * apps' specs, and each device its own reports. One such value is that entry absent, named
 * where it is an app's spec, and the rest of the zone (status, the gateway's routes, the
 * other apps) keeps working.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { cpSync, existsSync, readFileSync, writeFileSync } from "node:fs";
import { open } from "node:fs/promises";
import { join, resolve } from "node:path";
import { MAX_PACKAGE_BYTES } from "../protocol/app-package.ts";
import {
  bucky,
  buckyJson,
  cleanUp,
  type Daemon,
  freePort,
  jsonError,
  scratchDir,
  startZone,
  waitFor,
} from "./harness.ts";
import { actAs, type Member } from "./member.ts";

afterAll(cleanUp);

const FAST = { BUCKY_HEARTBEAT_MS: "300", BUCKY_CONVERGE_INTERVAL_MS: "300" };

let alpha: Daemon;
let gateway: string;
/** Beta, stolen: it writes into the zone by changesets of its own making. */
let member: Member;

async function appState(app: string): Promise<string | undefined> {
  const status = await buckyJson<{ state: string }>(["app", "status", app, "--home", alpha.home]);
  return status.state;
}

beforeAll(async () => {
  const zone = await startZone(["alpha", "beta"], FAST);
  alpha = zone.get("alpha") as Daemon;
  const beta = zone.get("beta") as Daemon;
  const port = freePort();
  await buckyJson([
    "gateway",
    "enable",
    "--listen",
    `127.0.0.1:${port}`,
    "--tls",
    "off",
    "--home",
    alpha.home,
  ]);
  gateway = `http://127.0.0.1:${port}`;
  const site = join(scratchDir(), "site");
  cpSync(resolve(import.meta.dir, "../fixtures/apps/site"), site, { recursive: true });
  await buckyJson(["app", "install", site, "--device", "alpha", "--home", alpha.home]);
  await waitFor(
    "site to run",
    async () => ((await appState("site")) === "running" ? true : undefined),
    20_000,
  );
  // From here on the test speaks for beta (a stolen device), so its daemon must not write beside it.
  await beta.stop();
  member = await actAs(beta.home);
  const changeset = member.changeset([
    { key: "users/owner/apps/five/spec", value: "5" },
    {
      key: "users/owner/apps/hollow/spec",
      value: JSON.stringify({
        app: "hollow",
        version: "1.0.0",
        package: `sha256:${"ab".repeat(32)}`,
        manifest: null,
        placement: "any",
        desired: "running",
        updatedAt: new Date().toISOString(),
      }),
    },
    { key: "nodes/beta/apps/site", value: "[]" },
  ]);
  const ack = await member.push(alpha, [changeset.bytes]);
  expect([ack.applied, ack.rejected]).toEqual([1, 0]);
  member.accepted(changeset);
});

describe("specs and reports another member wrote in a shape not theirs", () => {
  test("bucky status works, and names each app whose spec it cannot read", async () => {
    const status = await buckyJson<{ warnings: string[] }>(["status", "--home", alpha.home]);
    expect(status.warnings.filter((w) => w.startsWith("app "))).toEqual([
      "app five is not run anywhere: its spec in the zone state is not one bucky can read (a spec must be a map); install it again, or remove it (`bucky app remove five`)",
      "app hollow is not run anywhere: its spec in the zone state is not one bucky can read (its manifest must be a map); install it again, or remove it (`bucky app remove hollow`)",
    ]);
  });

  test("the gateway still routes to the other apps", async () => {
    const response = await fetch(`${gateway}/apps/site/`);
    expect([response.status, (await response.text()).includes("Hello from my zone")]).toEqual([
      200,
      true,
    ]);
  });

  test("the other apps' lists and changes still work: stopping one stops it", async () => {
    const { apps } = await buckyJson<{ apps: { app: string }[] }>([
      "app",
      "list",
      "--home",
      alpha.home,
    ]);
    expect(apps.map((a) => a.app)).toEqual(["site"]);
    // Not waited for (beta's daemon is stopped): what is checked is that it stops, and
    // that nothing but the note that it was not waited for is said on stderr.
    const stopped = await bucky(["app", "stop", "site", "--no-wait", "--home", alpha.home]);
    expect([stopped.exitCode, stopped.stderr.split("\n").filter(Boolean).length]).toEqual([0, 1]);
    expect(stopped.stderr).toContain("Not waited for another device to hold the write (--no-wait)");
    await waitFor(
      "site to stop",
      async () => ((await appState("site")) === "stopped" ? true : undefined),
      20_000,
    );
    expect(alpha.log()).not.toContain("TypeError");
    // Convergence passed many times meanwhile: each spec was warned of once.
    const warned = alpha
      .log()
      .split("\n")
      .filter((line) => line.includes("app spec unreadable"))
      .map((line) => line.slice(line.indexOf("app spec unreadable")));
    expect(warned).toEqual([
      'app spec unreadable app=five problem="a spec must be a map"',
      'app spec unreadable app=hollow problem="its manifest must be a map"',
    ]);
  });
});

describe("an app whose spec cannot be read", () => {
  test("cannot be started or stopped, and says why", async () => {
    const stopped = await bucky(["app", "stop", "five", "--home", alpha.home, "--json"]);
    expect([stopped.exitCode, jsonError(stopped)]).toEqual([
      1,
      {
        code: "E_NOT_FOUND",
        message:
          "five is not installed as bucky can run it: its spec in the zone state is not one bucky can read (a spec must be a map)",
        hint: "Remove it with `bucky app remove five`, or install it again.",
      },
    ]);
  });

  test("is removed by bucky app remove, the owner's way out: its spec is gone, and bucky status names it no more", async () => {
    expect(await buckyJson(["app", "remove", "five", "--purge", "--home", alpha.home])).toEqual({
      app: "five",
      removed: true,
      purged: false,
      unreadable: "a spec must be a map",
      // Beta's daemon is stopped (its key acts by hand): no other device holds it yet.
      heldElsewhere: "not yet",
    });
    const text = await bucky(["app", "remove", "hollow", "--home", alpha.home]);
    expect([text.exitCode, text.stdout.trim()]).toEqual([
      0,
      "Removed hollow, whose spec in the zone state could not be read (its manifest must be a map). Any data of it a device kept stays there: `bucky status --disk` on that device shows it as a leftover, and how to remove it.\nNo other device holds the removal yet (none said so within 3 s): keep this device running until another has synced it, or the removal is lost with it.",
    ]);
    const status = await buckyJson<{ warnings: string[]; unreadableApps: unknown[] }>([
      "status",
      "--home",
      alpha.home,
    ]);
    expect([status.warnings.filter((w) => w.startsWith("app ")), status.unreadableApps]).toEqual([
      [],
      [],
    ]);
    const state = await bucky([
      "state",
      "get",
      "users/owner/apps/five/spec",
      "--home",
      alpha.home,
      "--json",
    ]);
    expect([state.exitCode, jsonError(state).code]).toEqual([1, "E_NOT_FOUND"]);
    // Removed once, it is not there to remove again.
    const again = await bucky(["app", "remove", "five", "--home", alpha.home, "--json"]);
    expect([again.exitCode, jsonError(again).code]).toEqual([1, "E_NOT_FOUND"]);
  });
});

describe("a spec whose manifest names places outside the app's own", () => {
  test("is not run: no directory is made outside its data directory, and bucky status names it", async () => {
    // The owner installs climber (site under another id) for beta, which is down; stolen
    // beta then rewrites its spec for alpha, keeping its package, with a data directory
    // that climbs three levels: from <home>/apps/climber/data to alpha's home.
    const dir = join(scratchDir(), "climber");
    cpSync(resolve(import.meta.dir, "../fixtures/apps/site"), dir, { recursive: true });
    const manifest = JSON.parse(readFileSync(join(dir, "bucky-app.json"), "utf8"));
    writeFileSync(join(dir, "bucky-app.json"), JSON.stringify({ ...manifest, id: "climber" }));
    await buckyJson([
      ...["app", "install", dir, "--device", "beta", "--no-wait", "--home", alpha.home],
    ]);
    const installed = await buckyJson<{ value: Record<string, unknown> & { manifest: object } }>([
      ...["state", "get", "users/owner/apps/climber/spec", "--home", alpha.home],
    ]);
    const spec = {
      ...installed.value,
      manifest: { ...installed.value.manifest, data: ["../../../escaped"] },
      placement: "alpha",
    };
    const changeset = member.changeset([
      { key: "users/owner/apps/climber/spec", value: JSON.stringify(spec) },
    ]);
    const ack = await member.push(alpha, [changeset.bytes]);
    expect([ack.applied, ack.rejected]).toEqual([1, 0]);
    member.accepted(changeset);
    const escaped = join(alpha.home, "escaped");
    // Either alpha acts on the spec (and makes the directory) or it names it unreadable.
    const warnings = await waitFor(
      "alpha to make the directory, or to name the spec unreadable",
      async () => {
        if (existsSync(escaped)) return ["made"];
        const status = await buckyJson<{ warnings: string[] }>(["status", "--home", alpha.home]);
        const named = status.warnings.filter((w) => w.startsWith("app climber"));
        return named.length > 0 ? named : undefined;
      },
      20_000,
    );
    expect(warnings).toEqual([
      'app climber is not run anywhere: its spec in the zone state is not one bucky can read (its manifest: "data" name "../../../escaped" is not a directory name like db); install it again, or remove it (`bucky app remove climber`)',
    ]);
    expect(existsSync(escaped)).toBe(false);
  });
});

describe("a spec whose package is a large object of the zone, not a package", () => {
  test("is not read whole: its device refuses it by its size, saying so", async () => {
    // A file of zeros larger than any package (stored as one chunk, named many times),
    // put on alpha; stolen beta names it as the package of an app for alpha.
    const file = join(scratchDir(), "large.bin");
    const handle = await open(file, "w");
    await handle.truncate(MAX_PACKAGE_BYTES + 1);
    await handle.close();
    const { id } = await buckyJson<{ id: string }>(["put", file, "--home", alpha.home]);
    const site = await buckyJson<{ value: { manifest: object } }>([
      ...["state", "get", "users/owner/apps/site/spec", "--home", alpha.home],
    ]);
    const spec = {
      app: "hoarder",
      version: "1.0.0",
      package: id,
      manifest: { ...site.value.manifest, id: "hoarder" },
      placement: "alpha",
      desired: "running",
      updatedAt: new Date().toISOString(),
    };
    const changeset = member.changeset([
      { key: "users/owner/apps/hoarder/spec", value: JSON.stringify(spec) },
    ]);
    expect((await member.push(alpha, [changeset.bytes])).applied).toBe(1);
    member.accepted(changeset);
    const error = await waitFor(
      "alpha to say why hoarder does not run",
      async () =>
        (
          await buckyJson<{ error: string | null }>([
            "app",
            "status",
            "hoarder",
            "--home",
            alpha.home,
          ])
        ).error ?? undefined,
      20_000,
    );
    // Then when it tries again: "(restarting in 1 s)", and so on.
    expect(error).toStartWith(
      `cannot prepare the app: ${id} is ${MAX_PACKAGE_BYTES + 1} bytes: larger than an app package can be (${MAX_PACKAGE_BYTES} bytes)`,
    );
  });
});
