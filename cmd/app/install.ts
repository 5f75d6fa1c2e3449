/** `bucky app install <dir>`: install (or upgrade) an app into the zone. */
import { readFileSync, statSync } from "node:fs";
import { resolve } from "node:path";
import type { Installed, InstallOptions } from "../../lib/apps/admin.ts";
import type { AppStatus } from "../../lib/apps/status.ts";
import { requestDaemon } from "../../lib/node/daemon-client.ts";
import type { DeviceView } from "../../lib/zone/devices.ts";
import { defineBuckyCommand } from "../command.ts";

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
    ],
  },
  args: {
    dir: {
      type: "positional",
      required: true,
      description:
        "The app's directory (with its bucky-app.json), an archive of it (.tar, .tar.gz), or a stored package's id",
    },
    device: {
      type: "string",
      valueHint: "name",
      description: 'Run it on this device (default: the manifest\'s placement, else "any")',
    },
    unsandboxed: {
      type: "boolean",
      description:
        "Let it run without a sandbox on a device that cannot give it one (where bubblewrap is missing)",
    },
    wait: {
      type: "boolean",
      default: true,
      description: "Wait until the app runs, at most a minute (--no-wait: return at once)",
    },
  },
  async run(args, context) {
    const installed = await install(context.home, args.dir, {
      ...(args.device ? { device: args.device } : {}),
      ...(args.unsandboxed ? { unsandboxed: true } : {}),
    });
    const status = args.wait
      ? await waitUntilSettled(context.home, installed.app)
      : await appStatus(context.home, installed.app);
    return {
      ...installed,
      exposure: status.exposure,
      state: status.state,
      runsOn: status.device,
      error: status.error,
    };
  },
  text: (installed) =>
    [
      `${installed.upgradedFrom ? `Upgraded ${installed.app} from ${installed.upgradedFrom} to` : `Installed ${installed.app}`} ${installed.version} (${installed.device === "any" ? "on any device" : `on ${installed.device}`}).`,
      installed.state === "running"
        ? `It runs on ${installed.runsOn} and answers at ${installed.addresses[0] ?? "no gateway yet (make one with `bucky gateway enable`)"}${installed.exposure === "zone" && installed.addresses[0] ? " (zone-only: `bucky panel` signs a browser in)" : ""}.`
        : `It is ${installed.state}${installed.runsOn ? ` on ${installed.runsOn}` : ""}${installed.error ? `: ${installed.error}` : ""}.`,
      `See it with \`bucky app status ${installed.app}\`.`,
    ].join("\n"),
});

type InstalledHere = Installed & { readonly addresses: readonly string[] };

function install(home: string, dir: string, options: InstallOptions): Promise<InstalledHere> {
  if (/^(sha256|clist):/.test(dir))
    return requestDaemon<InstalledHere>(home, "POST", "/v1/apps", { package: dir, ...options });
  if (/\.(tar|tgz|tar\.gz)$/.test(dir) && statSync(dir, { throwIfNoEntry: false })?.isFile()) {
    const query = new URLSearchParams({
      ...(options.device ? { device: options.device } : {}),
      ...(options.unsandboxed ? { unsandboxed: "1" } : {}),
    }).toString();
    return requestDaemon<InstalledHere>(
      home,
      "POST",
      `/v1/apps/archive${query ? `?${query}` : ""}`,
      new Uint8Array(readFileSync(dir)),
    );
  }
  return requestDaemon<InstalledHere>(home, "POST", "/v1/apps", {
    dir: resolve(dir),
    ...options,
  });
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
