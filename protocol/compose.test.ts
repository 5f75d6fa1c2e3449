import { describe, expect, test } from "bun:test";
import { checkManifest } from "./app-manifest.ts";
import { composeToManifest } from "./compose.ts";

const file = "docker-compose.yml";

function imported(services: Record<string, unknown>, extra: Record<string, unknown> = {}) {
  const result = composeToManifest({ services, ...extra }, { file });
  if (!result.ok) throw new Error(result.reason);
  // What it makes is a manifest bucky accepts.
  const checked = checkManifest(result.manifest);
  if (!checked.ok) throw new Error(checked.problems.join("; "));
  return result;
}

describe("a compose file of one service", () => {
  test("carries over its image, port, volumes, environment, command, root and limits", () => {
    const { manifest, dropped } = imported({
      Photo_Prism: {
        image: "ghcr.io/owner/photoprism:latest",
        ports: [{ target: 2342, published: 80, protocol: "tcp" }],
        volumes: [
          "originals:/photoprism/originals",
          "./storage:/photoprism/storage",
          "./storage/db:/var/db",
        ],
        environment: ["PHOTOPRISM_SITE=home", "DEBUG=false"],
        command: "photoprism start --fast",
        read_only: true,
        mem_limit: "512m",
        cpus: 1.5,
        restart: "always",
        "x-umbrel": { title: "Photos" },
      },
    });
    expect(manifest).toEqual({
      id: "photo-prism",
      version: "1",
      description: "Imported from docker-compose.yml",
      run: {
        image: "ghcr.io/owner/photoprism:latest",
        port: 2342,
        env: { PHOTOPRISM_SITE: "home", DEBUG: "false" },
        command: ["photoprism", "start", "--fast"],
        readOnly: true,
      },
      data: { originals: "/photoprism/originals", storage: "/photoprism/storage", db: "/var/db" },
      limits: { memory: "512MiB", cpus: 1.5 },
    });
    expect(dropped).toEqual([
      'network: compose gives a service the network; a bucky app has only its own unless its manifest says "network": "outbound"',
    ]);
  });

  test("takes an exposed port when none is published, and names a directory once", () => {
    const { manifest, dropped } = imported(
      {
        web: {
          image: "nginx:1.27",
          expose: ["80"],
          volumes: ["/srv/a/data:/a", "/srv/b/data:/b", { type: "tmpfs", target: "/cache" }],
          network_mode: "none",
          command: "sh -c 'echo hi'",
        },
      },
      { name: "My Site" },
    );
    expect(manifest).toMatchObject({
      id: "my-site",
      version: "1.27",
      run: { image: "nginx:1.27", port: 80 },
      data: { data: "/a", "data-2": "/b" },
    });
    expect(dropped).toEqual([
      "command: only a list of strings, or words without quotes, is carried over",
      "volume /cache: a tmpfs is not kept (only /tmp is the container's own)",
      "network_mode: an app has a network of its own",
    ]);
  });

  test("an app with no port answers no HTTP, and says so", () => {
    expect(imported({ worker: { image: "busybox" } }).dropped).toContain(
      "ports: none, so the app answers no HTTP through the gateway",
    );
  });

  test.each<[string, unknown, string]>([
    ["no services", { version: "3" }, "it is not a compose file: it has no services"],
    [
      "two services",
      { services: { web: { image: "a" }, db: { image: "b" } } },
      "it has 2 services (web, db): bucky imports apps of one service for now",
    ],
    [
      "an image built from source",
      { services: { web: { build: "." } } },
      "service web builds its image from source (build:), which bucky does not: build and push it, then name it in image:",
    ],
    ["no image", { services: { web: { ports: ["80"] } } }, "service web names no image"],
    [
      "an image that is not a reference",
      { services: { web: { image: "Not An Image" } } },
      'its image "Not An Image" is not an image reference: it has spaces or control characters',
    ],
    [
      "a name with nothing to keep",
      { services: { "123": { image: "a" } } },
      'no app id can be made from "123": name it',
    ],
  ])("refuses %s", (what, value, reason) => {
    // Only the multi-service refusal says what is to come; the command's own hint does else.
    const hint =
      what === "two services"
        ? { hint: "Multi-service apps come in a later version of bucky." }
        : {};
    expect(composeToManifest(value, { file })).toEqual({ ok: false, reason, ...hint });
  });
});
