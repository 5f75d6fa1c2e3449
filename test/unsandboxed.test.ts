/**
 * Running an app without a sandbox is the owner's call, end to end with real daemons: the
 * nas holds the owner key and sandboxes apps; the laptop does neither. Unsandboxed, an app
 * has every file of its device in its reach, so a member that writes `unsandboxed: true`
 * into an app's spec (a stolen laptop, by hand) must not get its code run bare: only a
 * spec carrying the owner's grant for its package runs where there is no sandbox, and the
 * app's status says why on every device.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { cpSync } from "node:fs";
import { join, resolve } from "node:path";
import {
  bucky,
  buckyJson,
  cleanUp,
  type Daemon,
  jsonError,
  scratchDir,
  startDaemon,
  startZone,
  waitFor,
} from "./harness.ts";

afterAll(cleanUp);

const FAST = { BUCKY_HEARTBEAT_MS: "300", BUCKY_CONVERGE_INTERVAL_MS: "300" };
const SPEC = "users/owner/apps/site/spec";

interface Status {
  state: string;
  device: string | null;
  sandboxed: boolean;
  error: string | null;
  reportedBy: string | null;
}

let nas: Daemon;
let laptop: Daemon;

beforeAll(async () => {
  nas = (await startZone(["nas"], FAST)).get("nas") as Daemon;
  const { token } = await buckyJson<{ token: string }>(["invite", "--home", nas.home]);
  const home = join(scratchDir(), "laptop");
  await buckyJson(["join", token, "--home", home, "--device", "laptop", "--no-start"]);
  laptop = await startDaemon(home, { ...FAST, BUCKY_SANDBOX: "off" });
  await waitFor("the laptop to say it cannot sandbox apps", async () => {
    const { warnings } = await buckyJson<{ warnings: string[] }>(["status", "--home", nas.home]);
    return warnings.some((w) => w.startsWith("laptop cannot sandbox apps")) ? true : undefined;
  });
}, 60_000);

function site(): string {
  const dir = join(scratchDir(), "site");
  cpSync(resolve(import.meta.dir, "../fixtures/apps/site"), dir, { recursive: true });
  return dir;
}

const status = (home: string) => buckyJson<Status>(["app", "status", "site", "--home", home]);

async function specOn(home: string, key = SPEC): Promise<Record<string, unknown>> {
  const { value } = await buckyJson<{ value: Record<string, unknown> }>([
    ...["state", "get", key, "--home", home],
  ]);
  return value;
}

/** Waits until the app's status, asked on `home`, satisfies `ready`. */
function until(home: string, what: string, ready: (s: Status) => boolean): Promise<Status> {
  return waitFor(`site to be ${what} (asked on ${home})`, async () => {
    const s = await status(home).catch(() => undefined);
    return s && ready(s) ? s : undefined;
  });
}

describe("running an app unsandboxed is the owner's call", () => {
  test("asked on a device without the owner key, it is refused, saying where to ask", async () => {
    const refused = await bucky([
      ...["app", "install", site(), "--device", "laptop", "--unsandboxed"],
      ...["--home", laptop.home, "--json"],
    ]);
    expect([refused.exitCode, jsonError(refused).code]).toEqual([1, "E_PERMISSION"]);
    expect(jsonError(refused).message).toBe(
      "only the owner may let site run without a sandbox (every file and the network of its device in its reach), and this device does not hold the owner key",
    );
    expect(jsonError(refused).hint).toContain("on the device holding the owner key");
    const { apps } = await buckyJson<{ apps: unknown[] }>(["app", "list", "--home", nas.home]);
    expect(apps).toEqual([]);
  });

  test("a spec a member writes by hand saying unsandboxed does not run bare: the laptop says why, seen from the nas", async () => {
    await buckyJson(["app", "install", site(), "--device", "nas", "--home", nas.home]);
    await until(nas.home, "running on the nas", (s) => s.state === "running" && s.sandboxed);
    const spec = await waitFor("site's spec on the laptop", () =>
      specOn(laptop.home).catch(() => undefined),
    );
    await buckyJson([
      ...["state", "set", SPEC],
      JSON.stringify({ ...spec, placement: "laptop", unsandboxed: true }),
      ...["--home", laptop.home],
    ]);
    const refused = await until(
      nas.home,
      "refused on the laptop",
      (s) => s.reportedBy === "laptop" && s.error !== null,
    );
    expect(refused.state).not.toBe("running");
    expect(refused.error).toContain(
      "the owner did not allow this package to run without a sandbox as its spec says (its spec says --unsandboxed without the owner's grant for this package and manifest)",
    );
    expect(laptop.log()).toContain("app not started");
  }, 30_000);

  test("nor with a grant the owner gave another app, copied in", async () => {
    const other = join(scratchDir(), "other");
    cpSync(site(), other, { recursive: true });
    const manifest = join(other, "bucky-app.json");
    const parsed = JSON.parse(await Bun.file(manifest).text()) as Record<string, unknown>;
    await Bun.write(manifest, JSON.stringify({ ...parsed, id: "other" }));
    await buckyJson([
      ...["app", "install", other, "--device", "laptop", "--unsandboxed"],
      ...["--home", nas.home],
    ]);
    const otherSpec = await waitFor("other's spec on the laptop", async () => {
      const found = await specOn(laptop.home, "users/owner/apps/other/spec").catch(() => undefined);
      return typeof found?.unsandboxedGrant === "string" ? found : undefined;
    });
    const spec = await specOn(laptop.home);
    const refusals = () => laptop.log().split("app not started").length;
    const before = refusals();
    await buckyJson([
      ...["state", "set", SPEC],
      JSON.stringify({ ...spec, unsandboxedGrant: otherSpec.unsandboxedGrant }),
      ...["--home", laptop.home],
    ]);
    // Refused again for the spec as it is now: the laptop weighed the grant, and said no.
    await waitFor("the laptop to refuse site with the copied grant", async () =>
      refusals() > before ? true : undefined,
    );
    const refused = await status(nas.home);
    expect(refused.reportedBy).toBe("laptop");
    expect(refused.state).not.toBe("running");
    expect(refused.error).toContain("the owner did not allow this package");
  }, 30_000);

  test("the owner's --unsandboxed, from the nas, writes the grant: the laptop runs it, with the laptop's word seen on the nas", async () => {
    const installed = await buckyJson<{ unsandboxed: boolean }>([
      ...["app", "install", site(), "--device", "laptop", "--unsandboxed"],
      ...["--home", nas.home],
    ]);
    expect(installed.unsandboxed).toBe(true);
    const running = await until(
      nas.home,
      "running on the laptop",
      (s) => s.state === "running" && s.device === "laptop",
    );
    expect(running.sandboxed).toBe(false);
    const spec = await specOn(nas.home);
    expect(typeof spec.unsandboxedGrant).toBe("string");
  }, 30_000);

  test("the owner's grant, its package kept, with another command written in by a member: not run bare; the owner's install again runs it", async () => {
    const spec = await specOn(laptop.home);
    const manifest = spec.manifest as { run: Record<string, unknown> };
    const refusals = () => laptop.log().split("app not started").length;
    const before = refusals();
    await buckyJson([
      ...["state", "set", SPEC],
      JSON.stringify({
        ...spec,
        manifest: { ...manifest, run: { ...manifest.run, command: ["sh", "-c", "sleep 600"] } },
      }),
      ...["--home", laptop.home],
    ]);
    await waitFor("the laptop to refuse the command written in", async () =>
      refusals() > before ? true : undefined,
    );
    const refused = await until(nas.home, "refused", (s) => s.state !== "running");
    expect(refused.error).toContain(
      "the owner did not allow this package to run without a sandbox as its spec says",
    );
    await buckyJson([
      ...["app", "install", site(), "--device", "laptop", "--unsandboxed"],
      ...["--home", nas.home],
    ]);
    await until(nas.home, "running again", (s) => s.state === "running" && s.device === "laptop");
  }, 30_000);
});
