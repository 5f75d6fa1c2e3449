/** Where an image app runs: only on devices that run images of a platform the zone holds it for. */
import { describe, expect, test } from "bun:test";
import type { AppManifest } from "../../protocol/app-manifest.ts";
import type { ObjectId } from "../../protocol/ndn.ts";
import { rankDevices } from "../../protocol/placement.ts";
import type { SandboxFacts } from "../apps/sandbox-facts.ts";
import type { AppSpec } from "../apps/spec.ts";
import type { EngineFacts } from "../images/engine-facts.ts";
import { type HoldingFacts, holdingOf } from "./zone-holding.ts";

const members = ["alpha", "beta", "gamma"].map((name) => ({ name, id: `d${name}` }));
const podman = (platform: string): EngineFacts => ({
  engine: "podman 4.3.1",
  platform,
  problem: null,
});
const none: EngineFacts = { engine: null, platform: null, problem: "Podman is not installed" };

function spec(app: string, data: string[], platforms = ["linux/amd64"]): AppSpec {
  const manifest = {
    id: app,
    version: "1",
    description: "",
    run: { image: `r.example/${app}:1@sha256:${"a".repeat(64)}`, env: {}, volumes: {} },
    data,
    permissions: [],
    exposure: "zone",
    openPaths: [],
    limits: {},
    placement: "any",
    standbys: 1,
  } as unknown as AppManifest;
  return {
    app,
    version: "1",
    package: `sha256:${"b".repeat(64)}` as ObjectId,
    manifest,
    image: { platforms },
    placement: "any",
    desired: "running",
    updatedAt: "",
  };
}

function facts(engines: Record<string, EngineFacts>): HoldingFacts {
  return {
    claims: new Map(),
    draining: new Set(),
    copies: new Map(),
    engines: new Map(Object.entries(engines)),
  };
}

const everyone = { members, live: members };

describe("an image app's place", () => {
  test("is the first device in its order that runs images of its platform", () => {
    // An app whose first choice cannot run images: it goes to the next that can.
    const app = ["a", "b", "c", "d", "e", "f"].find(
      (name) => rankDevices(name, members)[0]?.name === "alpha",
    ) as string;
    const order = rankDevices(app, members).map((m) => m.name);
    const engines = {
      alpha: none,
      [order[1] as string]: podman("linux/arm64/v8"),
      [order[2] as string]: podman("linux/amd64"),
    };
    expect(holdingOf(spec(app, []), everyone, facts(engines)).runner).toBe(order[2]);
    expect(holdingOf(spec(app, [], ["linux/arm64"]), everyone, facts(engines)).runner).toBe(
      order[1],
    );
  });

  test("its data is kept only where it could run", () => {
    const engines = { alpha: podman("linux/amd64"), beta: none, gamma: podman("linux/amd64") };
    const holding = holdingOf(spec("notes", ["db"]), everyone, facts(engines));
    expect([holding.runner, ...holding.standbys].sort()).toEqual(["alpha", "gamma"]);
  });

  test("waits, saying how to fix it with no command to type (the panel shows it), when no device runs images", () => {
    const holding = holdingOf(spec("notes", ["db"]), everyone, facts({ alpha: none }));
    expect(holding.runner).toBeUndefined();
    expect(holding.waiting).toBe(
      "no device of the zone runs images for linux/amd64: install Podman (with runc) on one, then restart bucky there",
    );
  });

  test("a device that never said what it runs is not given one", () => {
    expect(holdingOf(spec("site", []), everyone, facts({})).runner).toBeUndefined();
  });
});

describe("a process app's place", () => {
  const bare: SandboxFacts = {
    sandbox: false,
    outbound: false,
    ownUsers: false,
    problem: "bwrap is missing",
  };
  const boxed: SandboxFacts = { sandbox: true, outbound: false, ownUsers: false, problem: null };
  const withSandboxes = (said: Record<string, SandboxFacts>): HoldingFacts => ({
    ...facts({}),
    sandboxes: new Map(Object.entries(said)),
  });
  const processApp = (app: string, data: string[], fields: Partial<AppSpec> = {}) => {
    const { image: _, ...plain } = spec(app, data);
    return {
      ...plain,
      manifest: { ...plain.manifest, run: { command: ["bun", "server.ts"] } },
      ...fields,
    } as AppSpec;
  };
  // An app whose first choice is alpha, which says it cannot sandbox apps.
  const app = ["a", "b", "c", "d", "e", "f"].find(
    (name) => rankDevices(name, members)[0]?.name === "alpha",
  ) as string;
  const order = rankDevices(app, members).map((m) => m.name);

  test("is never a device that says it cannot sandbox it; one that said nothing is counted", () => {
    const said = withSandboxes({ alpha: bare, [order[1] as string]: boxed });
    expect(holdingOf(processApp(app, []), everyone, said).runner).toBe(order[1]);
    const holding = holdingOf(processApp(app, ["db"]), everyone, said);
    expect([holding.runner, ...holding.standbys]).not.toContain("alpha");
    // Owned up to unsandboxed, it goes where it goes.
    expect(holdingOf(processApp(app, [], { unsandboxed: true }), everyone, said).runner).toBe(
      "alpha",
    );
    // An image app runs in Podman: not weighed by bubblewrap.
    const image = holdingOf(spec(app, []), everyone, {
      ...said,
      engines: new Map(members.map((m) => [m.name, podman("linux/amd64")])),
    });
    expect(image.runner).toBe("alpha");
  });

  test("waits, saying what to install, when no device can sandbox it", () => {
    const said = withSandboxes(Object.fromEntries(members.map((m) => [m.name, bare])));
    const holding = holdingOf(processApp(app, ["db"]), everyone, said);
    expect([holding.runner, holding.waiting]).toEqual([
      undefined,
      "no device of the zone can sandbox it: install bubblewrap on one, then restart bucky there",
    ]);
  });
});
