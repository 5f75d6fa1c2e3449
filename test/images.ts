/**
 * Real parts for the tests of image apps, all on this machine: container images built
 * offline from busybox-static (`podman import` of a small root file system, in a storage
 * of the test's own), and Debian's `docker-registry` on loopback, which `skopeo` pushes
 * them into. Each fails, never skips, when a part is missing: `npm test` installs them
 * (test/system-packages.sh).
 */
import { spawnSync } from "node:child_process";
import { createHash } from "node:crypto";
import { chmodSync, mkdirSync, symlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import type { Subprocess } from "bun";
import { freePort, waitFor } from "./harness.ts";

const SYSTEM_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

function need(tool: string, pkg: string): string {
  const found = Bun.which(tool, { PATH: SYSTEM_PATH });
  if (!found) throw new Error(`these tests need ${tool} (apt-get install ${pkg})`);
  return found;
}

function run(argv: readonly string[], what: string): string {
  const result = spawnSync(argv[0] as string, argv.slice(1), { encoding: "utf8" });
  if (result.status !== 0)
    throw new Error(`${what} failed (${argv.join(" ")}): ${result.stderr || result.stdout}`);
  return result.stdout;
}

/** A Podman storage of the test's own, for building images: not any device's. */
export class ImageWorkshop {
  private readonly flags: string[];

  constructor(private readonly dir: string) {
    need("podman", "podman");
    need("runc", "runc");
    this.flags = [
      "--root",
      join(dir, "storage"),
      "--runroot",
      join(dir, "run"),
      "--tmpdir",
      join(dir, "tmp"),
      "--runtime",
      "runc",
      "--cgroup-manager",
      "cgroupfs",
      "--events-backend",
      "file",
    ];
  }

  /**
   * Builds `name` from a root file system of busybox-static and its applets, plus `files`
   * (path → contents; paths under cgi-bin/ are made executable), running `cmd`.
   */
  build(name: string, files: Record<string, string | Uint8Array>, cmd: readonly string[]): void {
    const busybox = need("busybox", "busybox-static");
    const rootfs = join(
      this.dir,
      `rootfs-${createHash("sha256").update(name).digest("hex").slice(0, 8)}`,
    );
    mkdirSync(join(rootfs, "bin"), { recursive: true });
    for (const dir of ["tmp", "etc", "var/lib", "run"])
      mkdirSync(join(rootfs, dir), { recursive: true });
    chmodSync(join(rootfs, "tmp"), 0o1777);
    run(["cp", busybox, join(rootfs, "bin", "busybox")], "copying busybox");
    const applets = run([busybox, "--list"], "listing busybox's applets")
      .split("\n")
      .filter(Boolean);
    for (const applet of applets)
      if (applet !== "busybox") symlinkSync("busybox", join(rootfs, "bin", applet));
    for (const [path, contents] of Object.entries(files)) {
      const file = join(rootfs, path);
      mkdirSync(join(file, ".."), { recursive: true });
      writeFileSync(file, contents, { mode: path.includes("cgi-bin/") ? 0o755 : 0o644 });
    }
    const tar = `${rootfs}.tar`;
    run(
      ["tar", "-C", rootfs, "--owner=0", "--group=0", "-cf", tar, "."],
      "packing the root file system",
    );
    run(
      [
        "podman",
        ...this.flags,
        "import",
        "--change",
        `CMD ${JSON.stringify(cmd)}`,
        tar,
        `localhost/${name}`,
      ],
      `importing ${name}`,
    );
  }

  /** Pushes image `name` (built here) to `registry` as `name` (from where `wrap` says). */
  push(name: string, registry: Registry, wrap: readonly string[] = []): void {
    need("skopeo", "skopeo");
    run(
      [
        ...wrap,
        "skopeo",
        "copy",
        "--quiet",
        "--dest-tls-verify=false",
        `containers-storage:[overlay@${join(this.dir, "storage")}+${join(this.dir, "run")}]localhost/${name}`,
        `docker://${registry.host}/${name}`,
      ],
      `pushing ${name}`,
    );
  }

  /** Writes image `name` to a file, as `docker save` (or `podman save`) does. */
  save(name: string, file: string, format: "docker-archive" | "oci-archive"): void {
    run(
      [
        "podman",
        ...this.flags,
        "save",
        "--quiet",
        "--format",
        format,
        "-o",
        file,
        `localhost/${name}`,
      ],
      `saving ${name}`,
    );
  }

  /** Removes what was built, mounts and all. */
  destroy(): void {
    spawnSync("podman", [...this.flags, "system", "reset", "--force"], { stdio: "ignore" });
  }
}

/** Debian's docker-registry (distribution 2.8) on a port of loopback, storing in `dir`. */
export class Registry {
  readonly host: string;
  private child: Subprocess | undefined;
  private readonly config: string;

  constructor(private readonly dir: string) {
    need("docker-registry", "docker-registry");
    const port = freePort();
    this.host = `127.0.0.1:${port}`;
    this.config = join(dir, "config.yml");
    mkdirSync(join(dir, "data"), { recursive: true });
    writeFileSync(
      this.config,
      [
        "version: 0.1",
        "log:",
        "  level: error",
        "storage:",
        "  filesystem:",
        `    rootdirectory: ${join(dir, "data")}`,
        "http:",
        `  addr: ${this.host}`,
        "",
      ].join("\n"),
    );
  }

  /** Starts it (in the lab's host `wrap` runs commands on, when given). */
  async start(wrap: readonly string[] = []): Promise<void> {
    this.child = Bun.spawn([...wrap, "docker-registry", "serve", this.config], {
      stdio: ["ignore", "ignore", "pipe"],
    });
    const child = this.child;
    const answers = async () => {
      if (wrap.length === 0)
        return fetch(`http://${this.host}/v2/`).then(
          (response) => response.ok,
          () => false,
        );
      const script = `const r = await fetch("http://${this.host}/v2/").catch(() => undefined); process.exit(r?.ok ? 0 : 1);`;
      return Bun.spawnSync([...wrap, process.execPath, "-e", script]).exitCode === 0;
    };
    await waitFor(`the registry on ${this.host}`, async () => {
      if (child.exitCode !== null)
        throw new Error(
          `docker-registry exited: ${await new Response(child.stderr as ReadableStream).text()}`,
        );
      return (await answers()) ? true : undefined;
    });
  }

  async stop(): Promise<void> {
    this.child?.kill("SIGKILL");
    await this.child?.exited;
    this.child = undefined;
  }

  /** Where the registry keeps blob `digest` (`sha256:…`) on disk. */
  blobPath(digest: string): string {
    const hex = digest.slice("sha256:".length);
    return join(
      this.dir,
      "data",
      "docker",
      "registry",
      "v2",
      "blobs",
      "sha256",
      hex.slice(0, 2),
      hex,
      "data",
    );
  }

  /** The manifest of `name:tag`, as the registry serves it. */
  async manifest(
    name: string,
    tag: string,
  ): Promise<{ layers: { digest: string }[]; config: { digest: string } }> {
    const response = await fetch(`http://${this.host}/v2/${name}/manifests/${tag}`, {
      headers: {
        accept:
          "application/vnd.oci.image.manifest.v1+json, application/vnd.docker.distribution.manifest.v2+json",
      },
    });
    return (await response.json()) as { layers: { digest: string }[]; config: { digest: string } };
  }
}
