/** What `podman run` is told: the app's own user, no privileges, no host port, its limits. */
import { describe, expect, test } from "bun:test";
import { checkManifest, type ImageRun } from "../../protocol/app-manifest.ts";
import { type ContainerPlan, runArgs } from "./container-launcher.ts";

function plan(manifest: object): ContainerPlan {
  const checked = checkManifest(manifest);
  if (!checked.ok) throw new Error(checked.problems.join("; "));
  return {
    app: "photos",
    manifest: checked.manifest as ContainerPlan["manifest"] & { run: ImageRun },
    configDigest: `sha256:${"c".repeat(64)}`,
    user: { uid: 1_900_000_123, gid: 1_900_000_123 },
    dataDir: "/home/b/apps/photos/data",
    sandboxDir: "/home/b/apps/photos/sandbox",
  };
}

const base = { id: "photos", version: "1", run: { image: "r.example/photos:1", port: 8080 } };

describe("podman run", () => {
  test("runs the image as the app's user, with no privileges and only its loopback", () => {
    expect(runArgs(plan({ ...base, data: { library: "/var/lib/photos" } }))).toEqual([
      "run",
      "--rm",
      "--name",
      "bucky-photos",
      "--pull",
      "never",
      "--pidfile",
      "/home/b/apps/photos/sandbox/container.pid",
      "--hostname",
      "photos",
      "--network",
      "none",
      "--log-driver",
      "none",
      "--user",
      "1900000123:1900000123",
      "--cap-drop",
      "all",
      "--security-opt",
      "no-new-privileges",
      "--sysctl",
      "net.ipv4.ip_unprivileged_port_start=0",
      "--ulimit",
      "nofile=4096:4096",
      "--ulimit",
      "nproc=4096:4096",
      "--env-file",
      "/home/b/apps/photos/sandbox/container.env",
      "--mount",
      "type=bind,source=/home/b/apps/photos/data/library,destination=/var/lib/photos",
      "--mount",
      "type=bind,source=/home/b/apps/photos/sandbox/api,destination=/run/bucky/api,ro=true",
      "c".repeat(64),
    ]);
  });

  test("a read-only root, limits, outbound network and a command of its own, as its manifest says", () => {
    const args = runArgs(
      plan({
        ...base,
        run: { ...base.run, readOnly: true, command: ["serve", "--fast"] },
        network: "outbound",
        limits: { memory: "256MiB", cpus: 0.5 },
      }),
    );
    expect(args.slice(args.indexOf("--network"), args.indexOf("--network") + 2)).toEqual([
      "--network",
      "slirp4netns:allow_host_loopback=false",
    ]);
    for (const expected of [
      ["--read-only"],
      ["--memory", String(256 * 1024 ** 2), "--memory-swap", String(256 * 1024 ** 2)],
      ["--cpus", "0.5"],
    ])
      expect(args.join(" ")).toContain(expected.join(" "));
    expect(args.slice(-3)).toEqual(["c".repeat(64), "serve", "--fast"]);
    // Never a port on the host, never privileges.
    for (const flag of ["-p", "--publish", "--privileged", "--cap-add", "--network=host"])
      expect(args).not.toContain(flag);
  });
});
