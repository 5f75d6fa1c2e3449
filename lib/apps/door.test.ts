import { afterAll, describe, expect, test } from "bun:test";
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { BuckyError } from "../errors.ts";
import { socketDoor } from "./door.ts";

const root = mkdtempSync(join(tmpdir(), "bucky-door-"));
afterAll(() => rmSync(root, { recursive: true, force: true }));

/** A server on a Unix socket that says who it is. */
function serve(path: string, name: string) {
  return Bun.serve({
    unix: path,
    fetch: (request) => new Response(`${name} ${new URL(request.url).pathname}`),
  });
}

async function refusal(work: () => Promise<unknown>): Promise<string> {
  try {
    await work();
  } catch (error) {
    if (error instanceof BuckyError) return `${error.code}: ${error.message}`;
    throw error;
  }
  return "answered";
}

describe("socketDoor", () => {
  test("reaches the app's socket, by a path of any length", async () => {
    const deep = join(root, "a".repeat(60), "b".repeat(60));
    mkdirSync(deep, { recursive: true });
    const path = join(deep, "http.sock");
    const server = serve(path, "app");
    const door = socketDoor("app", path);
    try {
      expect(await (await door.fetch("/x?y=1")).text()).toBe("app /x");
      expect(door.url).toBe(`unix:${path}`);
      expect(door.websocketUrl("/ws")).toMatch(/^ws\+unix:\/\/\/proc\/self\/fd\/\d+:\/ws$/);
    } finally {
      door.close();
      server.stop(true);
    }
  });

  test("never follows a link the app put in its socket's place", async () => {
    const daemon = serve(join(root, "daemon.sock"), "daemon");
    symlinkSync(join(root, "daemon.sock"), join(root, "link.sock"));
    try {
      const door = socketDoor("app", join(root, "link.sock"));
      expect(await refusal(() => door.fetch("/v1/status"))).toBe(
        "E_UNAVAILABLE: app put something other than its socket where bucky reaches it",
      );
      expect(() => door.websocketUrl("/")).toThrow("put something other than its socket");
    } finally {
      daemon.stop(true);
    }
  });

  test("refuses a file that is no socket, and waits for one not there yet", async () => {
    writeFileSync(join(root, "file.sock"), "");
    expect(await refusal(() => socketDoor("app", join(root, "file.sock")).fetch("/"))).toBe(
      "E_UNAVAILABLE: app put something other than its socket where bucky reaches it",
    );
    expect(await refusal(() => socketDoor("app", join(root, "none.sock")).fetch("/"))).toBe(
      "E_UNAVAILABLE: app is not listening yet (ENOENT)",
    );
  });

  test("lets go of a socket that refuses, and takes the one made in its place", async () => {
    const path = join(root, "again.sock");
    const first = serve(path, "first");
    const door = socketDoor("app", path);
    expect(await (await door.fetch("/")).text()).toBe("first /");
    first.stop(true);
    rmSync(path, { force: true });
    await expect(door.fetch("/")).rejects.toThrow();
    const second = serve(path, "second");
    try {
      expect(await (await door.fetch("/")).text()).toBe("second /");
    } finally {
      door.close();
      second.stop(true);
    }
  });
});
