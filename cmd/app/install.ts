/**
 * `bucky app install <dir>`: install (or upgrade) an app into the zone, from its directory,
 * an archive of it, a stored package, an image app's manifest, or a container image alone
 * (`--image REF --port N --data name:/path`).
 */
import { existsSync, statSync } from "node:fs";
import { resolve } from "node:path";
import type { Installed, InstallOptions } from "../../lib/apps/admin.ts";
import type { AppStatus } from "../../lib/apps/status.ts";
import { BuckyError } from "../../lib/errors.ts";
import { saidBy } from "../../lib/facts/said-by.ts";
import { requestDaemon } from "../../lib/node/daemon-client.ts";
import { type HeldAnswer, pathAsked } from "../../lib/node/held-wait.ts";
import type { DeviceView } from "../../lib/zone/devices.ts";
import { defineBuckyCommand } from "../command.ts";
import { notHeldYetNote, waitArgs } from "../held-elsewhere.ts";

export default defineBuckyCommand({
  meta: {
    name: "install",
    description: "Install an app from its directory (or upgrade it, keeping its data)",
    examples: [
      "bucky app install ./notes",
      "bucky app install ./site --device nas",
      "bucky app install notes.tar.gz",
      "bucky app install clist:3f2a…",
      "bucky app install ./tool --unsandboxed   # where bubblewrap is missing",
      "bucky app install ./photos/bucky-app.json   # an image app's manifest",
      "bucky app install --image ghcr.io/owner/photos:1.4 --port 8080 --data library:/var/lib/photos",
      "bucky app install --image ./photos.tar --port 8080   # from `docker save`",
    ],
  },
  args: {
    dir: {
      type: "positional",
      required: false,
      description:
        "The app's directory (with its bucky-app.json), an archive of it (.tar, .tar.gz), a stored package's id, or an image app's manifest file",
    },
    image: {
      type: "string",
      valueHint: "ref|file",
      description:
        "A container image: a reference (registry/name:tag) or a file from `docker save`; with a manifest, its image instead",
    },
    port: {
      type: "string",
      valueHint: "n",
      description: "With --image alone: the port it answers HTTP on (default: the one it exposes)",
    },
    data: {
      type: "string",
      valueHint: "name:/path,…",
      description: "With --image alone: its data directories and where they go in the container",
    },
    id: {
      type: "string",
      valueHint: "app",
      description: "With --image alone: the app's id (default: from the image's name)",
    },
    device: {
      type: "string",
      valueHint: "name",
      description:
        'Run it on this device, or any (default: where it runs now, for an upgrade; else the manifest\'s placement, else "any")',
    },
    unsandboxed: {
      type: "boolean",
      description:
        "Let it run without a sandbox on a device that cannot give it one (where bubblewrap is missing); the owner's call: only on a device holding the owner key",
    },
    ...waitArgs("the app runs (at most a minute)"),
  },
  async run(args, context) {
    const options = {
      ...(args.device ? { device: args.device } : {}),
      ...(args.unsandboxed ? { unsandboxed: true } : {}),
    };
    if (args.dir !== undefined && (args.port || args.data || args.id))
      throw new BuckyError(
        "E_USAGE",
        "--port, --data and --id go with --image alone: a manifest says them itself",
      );
    if (args.dir !== undefined && args.image !== undefined && !isManifestTarget(args.dir))
      throw new BuckyError(
        "E_USAGE",
        `--image goes with an image app's directory or manifest file, and ${args.dir} is neither`,
      );
    const installed =
      args.dir === undefined || args.image !== undefined
        ? await installImage(context.home, args, options)
        : await install(context.home, args.dir, options, args);
    const status = args.wait
      ? await waitUntilSettled(context.home, installed.app)
      : await appStatus(context.home, installed.app);
    return {
      ...installed,
      exposure: status.exposure,
      state: status.state,
      runsOn: status.device,
      error: status.error,
      reportedBy: status.reportedBy,
    };
  },
  text: (installed) =>
    [
      `${installed.upgradedFrom ? `Upgraded ${installed.app} from ${installed.upgradedFrom} to` : `Installed ${installed.app}`} ${installed.version} (${installed.device === "any" ? "on any device" : `on ${installed.device}`}).`,
      ...(installed.image ? [`Its image, in the zone now: ${installed.image}.`] : []),
      installed.state === "running"
        ? `It runs on ${installed.runsOn} and answers at ${installed.addresses[0] ?? "no gateway yet (make one with `bucky gateway enable`)"}${installed.exposure === "zone" && installed.addresses[0] ? " (zone-only: `bucky panel` signs a browser in)" : ""}.`
        : `It is ${installed.state}${installed.runsOn ? ` on ${installed.runsOn}` : ""}${installed.error ? `: ${installed.reportedBy === null ? installed.error : saidBy(installed.reportedBy, installed.error)}` : ""}.`,
      `See it with \`bucky app status ${installed.app}\`.`,
      ...notHeldYetNote(installed, "install"),
    ].join("\n"),
});

type InstalledHere = Installed & HeldAnswer & { readonly addresses: readonly string[] };

/** Pulling an image can take a while: the install waits this long for the daemon. */
const IMAGE_INSTALL_TIMEOUT_MS = 60 * 60_000;

/** Whether the target is something --image may go with: a directory or manifest file. */
function isManifestTarget(target: string): boolean {
  const stats = statSync(target, { throwIfNoEntry: false });
  return stats?.isDirectory() === true || (stats?.isFile() === true && target.endsWith(".json"));
}

/** An image app: the shorthand alone, or a manifest with --image instead of its own. */
function installImage(
  home: string,
  args: { dir?: string; image?: string; port?: string; data?: string; id?: string; wait: boolean },
  options: InstallOptions,
): Promise<InstalledHere> {
  if (!args.image)
    throw new BuckyError(
      "E_USAGE",
      "name the app to install: its directory, an archive, a package id, or --image",
      "See `bucky app install --help`.",
    );
  const archive =
    existsSync(args.image) && statSync(args.image).isFile() ? resolve(args.image) : undefined;
  if (!archive && /\.(tar|tgz|tar\.gz)$/.test(args.image))
    throw new BuckyError(
      "E_NOT_FOUND",
      `there is no file ${args.image}`,
      "Name the file `docker save` or `podman save` wrote, or an image reference.",
    );
  const image = archive ? {} : { image: args.image };
  if (args.dir !== undefined)
    return requestDaemon<InstalledHere>(
      home,
      "POST",
      pathAsked("/v1/apps", args),
      { dir: resolve(args.dir), ...image, ...(archive ? { archive } : {}), ...options },
      IMAGE_INSTALL_TIMEOUT_MS,
    );
  const port = args.port === undefined ? undefined : Number(args.port);
  if (port !== undefined && (!Number.isInteger(port) || port < 1 || port > 65535))
    throw new BuckyError("E_USAGE", `--port ${args.port} is not a port number`, "Use 1 to 65535.");
  const data: Record<string, string> = {};
  for (const entry of (args.data ?? "").split(",").filter(Boolean)) {
    const at = entry.indexOf(":");
    if (at <= 0)
      throw new BuckyError(
        "E_USAGE",
        `--data ${entry} must be name:/path/in/container`,
        "Like --data library:/var/lib/photos,db:/var/lib/db.",
      );
    data[entry.slice(0, at)] = entry.slice(at + 1);
  }
  return requestDaemon<InstalledHere>(
    home,
    "POST",
    pathAsked("/v1/apps", args),
    {
      ...image,
      ...(archive ? { archive } : {}),
      ...(port === undefined ? {} : { port }),
      ...(args.data ? { data } : {}),
      ...(args.id ? { id: args.id } : {}),
      ...options,
    },
    IMAGE_INSTALL_TIMEOUT_MS,
  );
}

function install(
  home: string,
  dir: string,
  options: InstallOptions,
  asked: { wait: boolean },
): Promise<InstalledHere> {
  if (/^(sha256|clist):/.test(dir))
    return requestDaemon<InstalledHere>(home, "POST", pathAsked("/v1/apps", asked), {
      package: dir,
      ...options,
    });
  if (/\.(tar|tgz|tar\.gz)$/.test(dir) && statSync(dir, { throwIfNoEntry: false })?.isFile()) {
    const query = new URLSearchParams({
      ...(options.device ? { device: options.device } : {}),
      ...(options.unsandboxed ? { unsandboxed: "1" } : {}),
    }).toString();
    return requestDaemon<InstalledHere>(
      home,
      "POST",
      pathAsked(`/v1/apps/archive${query ? `?${query}` : ""}`, asked),
      // Sent as it is read from the file, never held whole.
      Bun.file(dir),
    );
  }
  // A directory or manifest file of an image app pulls its image: that may take a while.
  return requestDaemon<InstalledHere>(
    home,
    "POST",
    pathAsked("/v1/apps", asked),
    { dir: resolve(dir), ...options },
    IMAGE_INSTALL_TIMEOUT_MS,
  );
}

function appStatus(home: string, app: string): Promise<AppStatus> {
  return requestDaemon<AppStatus>(home, "GET", `/v1/apps/${encodeURIComponent(app)}`);
}

const SETTLE_TIMEOUT_MS = 60_000;
/** An offline device may be just starting, not yet heard of: it gets this long. */
const OFFLINE_GRACE_MS = 5_000;
const SETTLE_POLL_MS = 200;

/**
 * Waits while the app is on its way up (fetched, started, first health check) on an
 * online device; returns how it stands then: running, failing, or waiting for a device.
 */
async function waitUntilSettled(home: string, app: string): Promise<AppStatus> {
  const startedAt = Date.now();
  for (;;) {
    const status = await appStatus(home, app);
    const waited = Date.now() - startedAt;
    const onItsWay =
      status.device !== null &&
      ["pending", "starting"].includes(status.state) &&
      waited < SETTLE_TIMEOUT_MS &&
      (waited < OFFLINE_GRACE_MS || (await online(home, status.device)));
    if (!onItsWay) return status;
    await Bun.sleep(SETTLE_POLL_MS);
  }
}

async function online(home: string, device: string): Promise<boolean> {
  const { devices } = await requestDaemon<{ devices: DeviceView[] }>(home, "GET", "/v1/devices");
  return devices.some((d) => d.name === device && d.status === "online");
}
