import { afterAll, describe, expect, test } from "bun:test";
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { connectOutbound } from "./outbound.ts";

// Programs run from here: the temporary directory, where /dev/shm may forbid running them.
const dir = mkdtempSync(join(tmpdir(), "bucky-outbound-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** A program that says `line` on stderr and fails, as a tool that cannot do its part. */
function failing(name: string, line: string): string {
  const path = join(dir, name);
  writeFileSync(path, `#!/bin/sh\necho '${line}' >&2\nexit 1\n`);
  chmodSync(path, 0o755);
  return path;
}

describe("outbound network that cannot be set up", () => {
  test("says which tool failed and why", async () => {
    const slirp4netns = failing("slirp4netns", "open(/dev/net/tun): No such device");
    await expect(connectOutbound({ slirp4netns, unshare: undefined }, 1, false)).rejects.toThrow(
      "the app's outbound network could not be set up (slirp4netns: open(/dev/net/tun): No such device)",
    );
  });

  test("as root, unshare failing is said as unshare's, not slirp4netns's", async () => {
    const unshare = failing("unshare", "unshare: unshare failed: Operation not permitted");
    await expect(
      connectOutbound({ slirp4netns: "/nonexistent/slirp4netns", unshare }, 1, true),
    ).rejects.toThrow(
      "the app's outbound network could not be set up (unshare: unshare failed: Operation not permitted)",
    );
  });

  test("as root without unshare, nothing is started", async () => {
    await expect(
      connectOutbound({ slirp4netns: "/nonexistent/slirp4netns", unshare: undefined }, 1, true),
    ).rejects.toThrow("unshare (util-linux) is missing");
  });
});
