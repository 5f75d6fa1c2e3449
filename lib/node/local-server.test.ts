import { afterAll, describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { homePaths } from "../home.ts";
import { requestDaemon } from "./daemon-client.ts";
import { serveLocal } from "./local-server.ts";

const home = mkdtempSync(join(tmpdir(), "bucky-local-server-"));
afterAll(() => rmSync(home, { recursive: true, force: true }));

/**
 * Past Bun's default idle limit (10 s, checked on a 4 s tick: cut between 8 and 12 s), as a
 * revocation whose peers are slow to answer takes.
 */
const SILENT_MS = 13_000;

describe("the local API's socket", () => {
  test("keeps a request open while the daemon works on it without a word", async () => {
    const server = serveLocal(homePaths(home).daemonSocket, async () => {
      await Bun.sleep(SILENT_MS);
      return Response.json({ done: true });
    });
    try {
      expect(await requestDaemon(home, "POST", "/v1/devices/x/revoke")).toEqual({ done: true });
    } finally {
      server.stop(true);
    }
  }, 30_000);
});
