/** `bucky status` asking a home's daemon: what it makes of whatever answers on the socket. */
import { afterEach, describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { BuckyError } from "../errors.ts";
import { homePaths } from "../home.ts";
import { statusFromDaemon } from "./live-status.ts";

const homes: string[] = [];
const servers: { stop(closeActive?: boolean): void }[] = [];
afterEach(() => {
  for (const server of servers.splice(0)) server.stop(true);
  for (const home of homes.splice(0)) rmSync(home, { recursive: true, force: true });
});

/** A home whose daemon socket answers every request with `answer`. */
function homeAnswering(answer: () => Response): string {
  const home = mkdtempSync(join(tmpdir(), "bucky-live-status-"));
  homes.push(home);
  servers.push(Bun.serve({ unix: homePaths(home).daemonSocket, fetch: answer }));
  return home;
}

describe("statusFromDaemon", () => {
  test("no daemon: undefined, so the home is read instead", async () => {
    const home = mkdtempSync(join(tmpdir(), "bucky-live-status-"));
    homes.push(home);
    expect(await statusFromDaemon(home, { disk: false })).toBeUndefined();
  });

  test("the daemon's status, less what only the daemon's own API carries", async () => {
    const home = homeAnswering(() =>
      Response.json({ zone: { id: "z", name: "home" }, addresses: ["x"] }),
    );
    expect(await statusFromDaemon(home, { disk: false })).toEqual({
      zone: { id: "z", name: "home" },
    } as never);
  });

  test("an answer that is not a status (not JSON, not an object): undefined, not a crash", async () => {
    for (const body of ["<html>not json", "null", '"text"', "42"]) {
      const home = homeAnswering(() => new Response(body, { status: 200 }));
      expect([body, await statusFromDaemon(home, { disk: false })]).toEqual([body, undefined]);
    }
  });

  test("a daemon's error is the command's error: a damaged state is not papered over", async () => {
    const home = homeAnswering(() =>
      Response.json(
        { error: { code: "E_INTEGRITY", message: "the state was altered", hint: "restore" } },
        { status: 500 },
      ),
    );
    const thrown = await statusFromDaemon(home, { disk: false }).catch((error: unknown) => error);
    expect(thrown).toBeInstanceOf(BuckyError);
    expect(thrown).toMatchObject({ code: "E_INTEGRITY", message: "the state was altered" });
  });
});
