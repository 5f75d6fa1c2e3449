/**
 * Image apps end to end, with real parts: images built offline from busybox-static, a real
 * registry (Debian's docker-registry) on loopback, Podman running them. An image app is
 * installed from the registry, pinned to its digest, and reached through the gateway by
 * name; with the registry stopped, another device starts it from its peers' copy; it fails
 * over with its data when its device dies; it is upgraded to a new digest keeping its data;
 * a tampered layer is refused; an image from a file, a compose import, and every clear
 * failure. One registry, one set of images and one zone serve the whole file.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { createHash } from "node:crypto";
import {
  closeSync,
  existsSync,
  mkdirSync,
  openSync,
  readFileSync,
  readSync,
  statSync,
  writeFileSync,
  writeSync,
} from "node:fs";
import { join, resolve } from "node:path";
import type { AppStatus } from "../lib/apps/status.ts";
import { ImageStore } from "../lib/images/image-store.ts";
import { engineFlags } from "../lib/images/podman.ts";
import { ObjectStore } from "../lib/ndn/store.ts";
import type { ObjectId } from "../protocol/ndn.ts";
import {
  bucky,
  buckyJson,
  cleanUp,
  type Daemon,
  enableGateway,
  jsonError,
  newHomePath,
  removeContainers,
  scratchDir,
  startDaemon,
  startZone,
  waitFor,
} from "./harness.ts";
import { ImageWorkshop, Registry } from "./images.ts";

const FAST = {
  BUCKY_HEARTBEAT_MS: "500",
  BUCKY_CONVERGE_INTERVAL_MS: "300",
  BUCKY_SYNC_INTERVAL_MS: "200",
};
const HOST = "zone.test";
const COMPOSE = resolve(import.meta.dir, "../fixtures/compose/jellyfin/docker-compose.yml");
/** What the fixture's compose file says literally: a variable compose fills in, bucky does not. */
// biome-ignore lint/suspicious/noTemplateCurlyInString: the compose file's, not JavaScript's
const HOST_URL = "${HOST_URL}";

/** The site: a page, a note kept in its data volume, and what it can see of itself. */
function siteFiles(version: string): Record<string, string> {
  return {
    "www/index.html": `site ${version}\n`,
    "www/cgi-bin/note": [
      "#!/bin/sh",
      'echo "Content-Type: text/plain"',
      'echo ""',
      'if [ -n "$QUERY_STRING" ]; then echo "$QUERY_STRING" >> /var/lib/site/notes.txt; fi',
      "cat /var/lib/site/notes.txt 2>/dev/null",
      "",
    ].join("\n"),
    "www/cgi-bin/self": [
      "#!/bin/sh",
      'echo "Content-Type: text/plain"',
      'echo ""',
      'echo "uid=$(id -u)"',
      "grep CapEff /proc/self/status",
      // biome-ignore lint/suspicious/noTemplateCurlyInString: the shell's, not JavaScript's
      'echo "token=${BUCKY_APP_TOKEN:+set}"',
      'echo "zone=$BUCKY_ZONE"',
      'test -S "$BUCKY_API_SOCKET" && echo "api=socket"',
      'touch /tmp/x && echo "tmp=writable"',
      'echo "net=$(ls /sys/class/net | tr "\\n" " ")"',
      'echo "root=$(awk \'$2 == "/" { split($4, o, ","); print o[1] }\' /proc/mounts)"',
      "",
    ].join("\n"),
  };
}
/** Its first process ends on SIGTERM (a container's first process ignores what it does not handle). */
const SITE_CMD = [
  "/bin/sh",
  "-c",
  'echo site starting; trap "exit 0" TERM; httpd -f -v -p 8080 -h /www & wait',
];

let workshop: ImageWorkshop;
let registry: Registry;
let daemons: Map<string, Daemon>;
let gateway: string;
let scratch: string;

function home(name: string): string {
  return (daemons.get(name) as Daemon).home;
}

function status(app: string, on = "alpha"): Promise<AppStatus> {
  return buckyJson<AppStatus>(["app", "status", app, "--home", home(on)]);
}

/** Waits until `app` runs (as `on` sees it), on `device` when given. */
function running(app: string, device?: string, timeoutMs = 30_000): Promise<AppStatus> {
  return waitFor(
    `${app} running${device ? ` on ${device}` : ""}`,
    async () => {
      const s = await status(app).catch(() => undefined);
      return s?.state === "running" && (!device || s.device === device) ? s : undefined;
    },
    timeoutMs,
  );
}

/** A request to an app through the gateway, by its name. */
async function viaGateway(app: string, path: string): Promise<Response> {
  return fetch(`${gateway}${path}`, { headers: { host: `${app}.${HOST}` } });
}

async function text(app: string, path: string): Promise<string> {
  const response = await viaGateway(app, path);
  expect(response.status).toBe(200);
  return response.text();
}

function manifestDir(manifest: object): string {
  const dir = join(scratchDir(), "app");
  mkdirSync(dir);
  writeFileSync(join(dir, "bucky-app.json"), JSON.stringify(manifest));
  return dir;
}

function siteManifest(version: string, readOnly = false): object {
  return {
    id: "site",
    version,
    run: {
      image: `${registry.host}/site:${version}`,
      port: 8080,
      ...(readOnly ? { readOnly } : {}),
    },
    data: { notes: "/var/lib/site" },
    exposure: "public",
    health: { path: "/", intervalMs: 300 },
  };
}

/** The images the engine of a device holds, by id. */
function engineImages(device: string): string[] {
  const listed = Bun.spawnSync(
    ["podman", ...engineFlags(join(home(device), "containers")), "images", "--quiet", "--no-trunc"],
    { stdout: "pipe" },
  );
  return listed.stdout
    .toString()
    .split("\n")
    .filter(Boolean)
    .map((id) => id.replace(/^sha256:/, ""));
}

/** The containers the engine of a device runs. */
function containers(device: string): string[] {
  const listed = Bun.spawnSync(
    ["podman", ...engineFlags(join(home(device), "containers")), "ps", "--format", "{{.Names}}"],
    { stdout: "pipe" },
  );
  return listed.stdout.toString().split("\n").filter(Boolean);
}

beforeAll(async () => {
  scratch = scratchDir();
  workshop = new ImageWorkshop(join(scratch, "workshop"));
  workshop.build("site:1", siteFiles("v1"), SITE_CMD);
  workshop.build("site:2", siteFiles("v2"), SITE_CMD);
  workshop.build("tampered:1", { "www/index.html": "tampered\n" }, SITE_CMD);
  registry = new Registry(join(scratch, "registry"));
  await registry.start();
  for (const name of ["site:1", "site:2", "tampered:1"]) workshop.push(name, registry);
  daemons = await startZone(["alpha", "beta"], FAST);
  // Plain HTTP: .test is a local name, which the zone CA would certify.
  gateway = await enableGateway(home("alpha"), ["--tls", "off", "--host", HOST]);
}, 120_000);

afterAll(async () => {
  await registry?.stop();
  workshop?.destroy();
  await cleanUp();
});

describe("an image app from a registry", () => {
  let first = "";

  test("is installed by tag, pinned to its digest, and runs in a container reached through the gateway by name", async () => {
    const installed = await buckyJson<Record<string, unknown>>([
      "app",
      "install",
      manifestDir(siteManifest("1")),
      "--home",
      home("alpha"),
    ]);
    // The digest is the manifest's, as the registry serves it.
    const manifest = await fetch(`http://${registry.host}/v2/site/manifests/1`, {
      headers: { accept: "application/vnd.oci.image.manifest.v1+json" },
    });
    const digest = `sha256:${createHash("sha256")
      .update(new Uint8Array(await manifest.arrayBuffer()))
      .digest("hex")}`;
    expect(installed).toMatchObject({
      app: "site",
      version: "1",
      image: `${registry.host}/site:1@${digest}`,
      state: "running",
      upgradedFrom: null,
    });
    const s = await running("site");
    first = s.device as string;
    expect(s).toMatchObject({
      engine: expect.stringMatching(/^podman \d/),
      image: `${registry.host}/site:1@${digest}`,
      sandboxed: true,
      url: expect.stringMatching(/^unix:.*\/apps\/site\/sandbox\/http\/http\.sock$/),
    });
    expect(await text("site", "/")).toBe("site v1\n");
    // Its own user, no capabilities, its token and its app API; a network with nothing
    // but its loopback (the gateway reaches it through a socket), a root that is not
    // read-only (its manifest did not ask for one), a /tmp of its own.
    const uid = readFileSync(join(home(first), "apps", "site", "uid"), "utf8").trim();
    const zone = (await buckyJson<{ zone: { id: string } }>(["status", "--home", home("alpha")]))
      .zone.id;
    expect((await text("site", "/cgi-bin/self")).split("\n").filter(Boolean)).toEqual([
      `uid=${uid}`,
      "CapEff:\t0000000000000000",
      "token=set",
      `zone=${zone}`,
      "api=socket",
      "tmp=writable",
      "net=lo ",
      "root=rw",
    ]);
    expect((await bucky(["app", "status", "site", "--home", home("beta")])).stdout).toContain(
      `  engine     podman`,
    );
  }, 60_000);

  test("bucky status says which devices run images", async () => {
    const zone = await buckyJson<{ images: unknown[] }>(["status", "--home", home("beta")]);
    expect(zone.images).toEqual([
      {
        device: "alpha",
        engine: expect.stringMatching(/^podman /),
        platform: "linux/amd64",
        problem: null,
      },
      {
        device: "beta",
        engine: expect.stringMatching(/^podman /),
        platform: "linux/amd64",
        problem: null,
      },
    ]);
    expect((await bucky(["status", "--home", home("alpha")])).stdout).toContain(
      "Images       alpha runs them (podman",
    );
  });

  test("writes to its data volume, and its output is in its logs", async () => {
    expect(await text("site", "/cgi-bin/note?first")).toBe("first\n");
    expect(
      readFileSync(join(home(first), "apps", "site", "data", "notes", "notes.txt"), "utf8"),
    ).toBe("first\n");
    const logs = await buckyJson<{ lines: string[] }>([
      "app",
      "logs",
      "site",
      "--home",
      home("alpha"),
    ]);
    expect(logs.lines).toContain("site starting");
  });

  test("with the registry stopped, another device starts it from its peers' copy, with its data", async () => {
    await registry.stop();
    const other = first === "alpha" ? "beta" : "alpha";
    const moved = await buckyJson<{ arrived: boolean }>([
      "app",
      "move",
      "site",
      "--to",
      other,
      "--home",
      home("alpha"),
    ]);
    expect(moved.arrived).toBe(true);
    const s = await running("site", other);
    expect(s.image).toContain("@sha256:");
    expect(await text("site", "/")).toBe("site v1\n");
    expect(await text("site", "/cgi-bin/note")).toBe("first\n");
    expect((daemons.get(other) as Daemon).log()).toContain("image loaded app=site");
    // Only the device the install ran on ever spoke to the registry.
    expect((daemons.get("alpha") as Daemon).log()).toContain("image pulled");
    expect((daemons.get("beta") as Daemon).log()).not.toContain("image pulled");
    expect(containers(first)).toEqual([]);
    expect(containers(other)).toEqual(["bucky-site"]);
  }, 60_000);

  test("fails over with its data when the device running it dies", async () => {
    // It runs on beta (the gateway is alpha's, which must stay up).
    if ((await status("site")).device !== "beta") {
      await buckyJson(["app", "move", "site", "--to", "beta", "--home", home("alpha")]);
      await running("site", "beta");
    }
    expect(await text("site", "/cgi-bin/note?second")).toBe("first\nsecond\n");
    const wrote = Date.now();
    await waitFor(
      "alpha's copy of site's data to catch up",
      async () => {
        const s = await status("site");
        return s.data?.standbys.some(
          (standby) =>
            standby.device === "alpha" &&
            standby.lagMs === 0 &&
            Date.parse(standby.snapshotAt ?? "") >= wrote,
        )
          ? true
          : undefined;
      },
      20_000,
    );
    await (daemons.get("beta") as Daemon).kill();
    removeContainers(home("beta"));
    const s = await running("site", "alpha", 30_000);
    expect(s.data?.holder).toMatchObject({ device: "alpha", epoch: expect.any(Number) });
    expect(await text("site", "/cgi-bin/note")).toBe("first\nsecond\n");
    daemons.set("beta", await startDaemon(home("beta"), FAST));
  }, 90_000);

  test("is upgraded to a new image digest (and a read-only root), keeping its data; the old image leaves the engine", async () => {
    await registry.start();
    const upgraded = await buckyJson<Record<string, unknown>>([
      "app",
      "install",
      manifestDir(siteManifest("2", true)),
      "--home",
      home("alpha"),
    ]);
    expect(upgraded).toMatchObject({ app: "site", version: "2", upgradedFrom: "1" });
    // A pull and a new container: as long as the first install may take on a busy machine.
    const s = await waitFor(
      "site 2 running",
      async () => {
        const x = await status("site");
        return x.state === "running" && x.version === "2" ? x : undefined;
      },
      30_000,
    );
    expect(await text("site", "/")).toBe("site v2\n");
    expect(await text("site", "/cgi-bin/note?third")).toBe("first\nsecond\nthird\n");
    // Its new manifest asks for a read-only root: its data and /tmp stay writable.
    expect((await text("site", "/cgi-bin/self")).split("\n").slice(-3)).toEqual([
      "net=lo ",
      "root=ro",
      "",
    ]);
    const v2 = (await registry.manifest("site", "2")).config.digest.slice("sha256:".length);
    await waitFor("the engine to hold site 2's image alone", () => {
      const ids = engineImages(s.device as string);
      return ids.length === 1 && ids[0] === v2 ? true : undefined;
    });
  }, 60_000);

  test("is restarted when its container dies", async () => {
    const before = await status("site");
    const killed = Bun.spawnSync([
      "podman",
      ...engineFlags(join(home(before.device as string), "containers")),
      "kill",
      "bucky-site",
    ]);
    expect(killed.exitCode).toBe(0);
    const after = await waitFor(
      "site restarted",
      async () => {
        const s = await status("site");
        return s.state === "running" && s.restarts > before.restarts ? s : undefined;
      },
      20_000,
    );
    expect(after.device).toBe(before.device);
    expect(
      await waitFor("the gateway to reach site again", async () => {
        const response = await viaGateway("site", "/cgi-bin/note");
        return response.status === 200 ? response.text() : undefined;
      }),
    ).toBe("first\nsecond\nthird\n");
    // Its token went to the engine, and is not left in a file beside it.
    expect(
      existsSync(join(home(before.device as string), "apps", "site", "sandbox", "container.env")),
    ).toBe(false);
  }, 60_000);

  test("stops, starts, and is removed with its data and its container", async () => {
    const device = (await status("site")).device as string;
    await buckyJson(["app", "stop", "site", "--home", home("alpha")]);
    await waitFor("site stopped, its container gone", async () =>
      (await status("site")).state === "stopped" && containers(device).length === 0
        ? true
        : undefined,
    );
    await buckyJson(["app", "start", "site", "--home", home("alpha")]);
    await running("site");
    const notes = await waitFor("the gateway to reach site again", async () => {
      const response = await viaGateway("site", "/cgi-bin/note");
      return response.status === 200 ? response.text() : undefined;
    });
    expect(notes).toBe("first\nsecond\nthird\n");
    await buckyJson(["app", "remove", "site", "--purge", "--home", home("alpha")]);
    await waitFor(
      "site's container, data and image gone",
      () =>
        containers(device).length === 0 &&
        !existsSync(join(home(device), "apps", "site", "data")) &&
        engineImages(device).length === 0
          ? true
          : undefined,
      20_000,
    );
  }, 60_000);
});

describe("an image app refused, with nothing installed", () => {
  test("a layer altered in the registry: exit 4", async () => {
    const { layers } = await registry.manifest("tampered", "1");
    const blob = registry.blobPath((layers[0] as { digest: string }).digest);
    const fd = openSync(blob, "r+");
    const middle = Math.floor(statSync(blob).size / 2);
    const byte = Buffer.alloc(1);
    readSync(fd, byte, 0, 1, middle);
    byte[0] = (byte[0] as number) ^ 0xff;
    writeSync(fd, byte, 0, 1, middle);
    closeSync(fd);
    const result = await bucky([
      "app",
      "install",
      "--image",
      `${registry.host}/tampered:1`,
      "--port",
      "8080",
      "--home",
      home("alpha"),
      "--json",
    ]);
    expect(result.exitCode).toBe(4);
    expect(jsonError(result)).toMatchObject({
      code: "E_INTEGRITY",
      message: expect.stringContaining("does not match its digest"),
    });
    expect((await bucky(["app", "status", "tampered", "--home", home("alpha")])).exitCode).toBe(1);
  });

  test.each<[string, string, number, string, RegExp]>([
    [
      "a registry nobody answers at",
      "127.0.0.1:9/site:1",
      3,
      "E_UNAVAILABLE",
      /the registry 127\.0\.0\.1:9 cannot be reached/,
    ],
    [
      "an image the registry does not have",
      "REGISTRY/nothing:1",
      1,
      "E_NOT_FOUND",
      /has no image nothing:1/,
    ],
    ["a reference that is not one", "Bad Name", 2, "E_INVALID_INPUT", /is not an image reference/],
  ])("%s", async (_what, image, exitCode, code, message) => {
    const result = await bucky([
      "app",
      "install",
      "--image",
      image.replace("REGISTRY", registry.host),
      "--home",
      home("alpha"),
      "--json",
    ]);
    expect([result.exitCode, jsonError(result).code]).toEqual([exitCode, code]);
    expect(jsonError(result).message).toMatch(message);
  });

  test("a zone with no device that runs images says how to get one", async () => {
    const solo = newHomePath();
    await buckyJson(["init", "--home", solo, "--device", "solo"]);
    await startDaemon(solo, { ...FAST, BUCKY_PODMAN: "/nonexistent/podman" });
    await waitFor("solo to say it cannot run images", async () => {
      const zone = await buckyJson<{ images: { problem: string | null }[] }>([
        "status",
        "--home",
        solo,
      ]);
      return zone.images.length > 0 ? true : undefined;
    });
    const result = await bucky([
      "app",
      "install",
      "--image",
      `${registry.host}/site:1`,
      "--home",
      solo,
      "--json",
    ]);
    expect(result.exitCode).toBe(3);
    expect(jsonError(result)).toEqual({
      code: "E_UNAVAILABLE",
      message:
        'no device of the zone can run site\'s container image (solo says "Podman is not installed (no /nonexistent/podman here): install it with `apt-get install podman runc`")',
      hint: "Install Podman where it should run (`apt-get install podman runc`) and restart bucky there (`bucky stop && bucky up`); `bucky status` shows which devices run images.",
    });
    expect((await bucky(["status", "--home", solo])).stdout).toContain(
      'Images       solo cannot: solo says "Podman is not installed (no /nonexistent/podman here)',
    );
    // Pinned to it, the same, about that device.
    const pinned = await bucky([
      "app",
      "install",
      "--image",
      `${registry.host}/site:1`,
      "--device",
      "solo",
      "--home",
      solo,
      "--json",
    ]);
    expect(jsonError(pinned).message).toBe(
      'solo cannot run site\'s container image (solo says "Podman is not installed (no /nonexistent/podman here): install it with `apt-get install podman runc`")',
    );
  });
});

describe("an image app from a file", () => {
  test.each<["docker-archive" | "oci-archive", string]>([
    ["docker-archive", "saved"],
    ["oci-archive", "laid-out"],
  ])(
    "as %s: installed, and run",
    async (format, id) => {
      const file = join(scratchDir(), `${id}.tar`);
      workshop.save("site:1", file, format);
      const installed = await buckyJson<Record<string, unknown>>([
        "app",
        "install",
        "--image",
        file,
        "--port",
        "8080",
        "--id",
        id,
        "--home",
        home("alpha"),
      ]);
      expect(installed).toMatchObject({
        app: id,
        state: "running",
        image: expect.stringContaining("@sha256:"),
        heldElsewhere: "held",
      });
      // Held elsewhere means the image too: beta, which may run it, held every blob of it
      // (no registry gives an image from a file again) by the time install answered.
      const betaImages = new ImageStore(
        new ObjectStore(join(home("beta"), "ndn")),
        join(home("beta"), "images"),
      );
      const record = betaImages.readRecord(installed.package as ObjectId);
      expect(record?.images.some((image) => betaImages.holds(image))).toBe(true);
      const s = await running(id);
      const body = await fetch(`http://app/`, {
        unix: (s.url as string).slice("unix:".length),
      } as RequestInit);
      expect(await body.text()).toBe("site v1\n");
      await buckyJson(["app", "remove", id, "--purge", "--home", home("alpha")]);
    },
    60_000,
  );
});

describe("an image app installed from a file", () => {
  test("is answered once another device that may run it holds its image, not its record alone", async () => {
    const file = join(scratchDir(), "held.tar");
    workshop.save("site:2", file, "docker-archive");
    // The daemon's own answer, before the CLI waits for the app to run (by which time any
    // device might have fetched the image).
    const response = await fetch("http://localhost/v1/apps", {
      method: "POST",
      unix: join(home("alpha"), "daemon.sock"),
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ archive: file, port: 8080, id: "held", device: "beta" }),
    } as RequestInit);
    const installed = (await response.json()) as { package: string; heldElsewhere: string };
    expect(installed.heldElsewhere).toBe("held");
    const betaImages = new ImageStore(
      new ObjectStore(join(home("beta"), "ndn")),
      join(home("beta"), "images"),
    );
    const record = betaImages.readRecord(installed.package as ObjectId);
    expect(record?.images.some((image) => betaImages.holds(image))).toBe(true);
    await buckyJson(["app", "remove", "held", "--purge", "--home", home("alpha")]);
  }, 60_000);
});

describe("bucky app import", () => {
  test("turns a compose file of one service into a manifest, listing what it could not carry over", async () => {
    const out = join(scratchDir(), "jellyfin");
    const imported = await buckyJson<Record<string, unknown>>([
      "app",
      "import",
      COMPOSE,
      "--out",
      out,
    ]);
    expect(imported).toEqual({
      app: "jellyfin",
      dir: out,
      manifest: {
        id: "jellyfin",
        version: "10.8.13",
        description: `Imported from ${COMPOSE}`,
        run: {
          image: "jellyfin/jellyfin:10.8.13",
          port: 8096,
          env: { TZ: "Europe/Berlin", PUID: "1000", JELLYFIN_PublishedServerUrl: HOST_URL },
        },
        data: { config: "/config", cache: "/cache", media: "/media" },
        limits: { memory: "2GiB", cpus: 2 },
      },
      dropped: [
        'ports: "7359:7359/udp" is not a TCP port bucky can route to',
        "port 8920: an app answers HTTP on one port (the first, 8096), through the gateway",
        `environment JELLYFIN_PublishedServerUrl: "${HOST_URL}" refers to variables bucky does not fill in: check its value`,
        "environment UNSET: it has no value here (compose takes it from the shell): set it in run.env",
        "volume /media: read-only in compose; bucky's data directories are writable",
        "volume /etc/localtime:/etc/localtime: apps get none of the host's own files",
        "network_mode: an app has a network of its own",
        "devices: apps get no devices of the host",
        'healthcheck: bucky checks an HTTP path instead: add "health": {"path": "/"} to the manifest',
        'network: compose gives a service the network; a bucky app has only its own unless its manifest says "network": "outbound"',
      ],
    });
    expect(JSON.parse(readFileSync(join(out, "bucky-app.json"), "utf8"))).toEqual(
      imported.manifest,
    );
    // Written once: a second import does not overwrite it.
    const again = await bucky(["app", "import", COMPOSE, "--out", out, "--json"]);
    expect([again.exitCode, jsonError(again).code]).toEqual([1, "E_EXISTS"]);
  });

  test("refuses a compose app of several services", async () => {
    const file = join(scratchDir(), "docker-compose.yml");
    writeFileSync(file, "services:\n  web:\n    image: nginx:1\n  db:\n    image: postgres:16\n");
    const result = await bucky(["app", "import", file, "--json"]);
    expect(result.exitCode).toBe(2);
    expect(jsonError(result).message).toBe(
      `${file} cannot be imported: it has 2 services (web, db): bucky imports apps of one service for now`,
    );
  });
});
