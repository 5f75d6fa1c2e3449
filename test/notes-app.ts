/**
 * The notes app (fixtures/apps/notes) in a zone of real daemons, as the replication tests
 * drive it: its status and its notes as a device sees them, a note written, and a wait
 * until it runs on a device that holds its data with every standby caught up; a device
 * killed with the app it runs.
 */
import { expect } from "bun:test";
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import type { AppStatus } from "../lib/apps/status.ts";
import { appFetch, buckyJson, type Daemon, waitFor } from "./harness.ts";

export function notesApp(daemons: () => ReadonlyMap<string, Daemon>) {
  /** When the last note was written: a standby is caught up once it has a snapshot from after it. */
  let lastWriteMs = 0;

  function home(name: string): string {
    return (daemons().get(name) as Daemon).home;
  }

  function status(on: string): Promise<AppStatus> {
    return buckyJson<AppStatus>(["app", "status", "notes", "--home", home(on)]);
  }

  /** The notes, as the app answers them on the device running it (asked from `on`). */
  async function notes(on: string): Promise<string[]> {
    const s = await status(on);
    const response = await appFetch(s.url as string, "/api/notes");
    const body = (await response.json()) as { notes: { text: string }[] };
    return body.notes.map((n) => n.text);
  }

  async function write(on: string, text: string): Promise<void> {
    const s = await status(on);
    const response = await appFetch(s.url as string, "/api/notes", {
      method: "POST",
      body: JSON.stringify({ text }),
    });
    expect(response.status).toBe(201);
    lastWriteMs = Date.now();
  }

  /**
   * Waits until `on` sees the app running on `device`, holder of its data, with every
   * standby caught up. A device that has not heard of the app (yet) says it is not
   * installed: not settled. A timeout says what it saw last and what each device logged.
   */
  async function settled(on: string, device: string, timeoutMs = 20_000): Promise<AppStatus> {
    let last: AppStatus | undefined;
    try {
      return await waitFor(
        `notes running on ${device}, its standbys caught up, as ${on} sees it`,
        async () => {
          const s = await status(on).catch(() => undefined);
          last = s;
          return s?.state === "running" &&
            s.device === device &&
            s.data?.holder?.device === device &&
            (s.data?.standbys.length ?? 0) > 0 &&
            s.data?.standbys.every(
              (standby) =>
                standby.lagMs === 0 && Date.parse(standby.snapshotAt ?? "") >= lastWriteMs,
            )
            ? s
            : undefined;
        },
        timeoutMs,
      );
    } catch (error) {
      const logs = [...daemons()]
        .map(
          ([name, d]) =>
            `--- ${name}\n${d
              .log()
              .split("\n")
              .filter((l) => /app data|snapshot|follow|taken|handed|conflict|notes/.test(l))
              .slice(-25)
              .join("\n")}`,
        )
        .join("\n");
      throw new Error(
        `${(error as Error).message}; last write ${new Date(lastWriteMs).toISOString()}; last seen ${JSON.stringify(last)}\n${logs}`,
      );
    }
  }

  /**
   * Installs the app from `dir` on `on` and waits until `on` sees it running; returns the
   * device it runs on, which holds its data.
   */
  async function install(dir: string, on: string): Promise<string> {
    await buckyJson(["app", "install", dir, "--home", home(on)]);
    const running = await waitFor("notes running", async () => {
      const s = await status(on);
      return s.state === "running" && s.device ? s : undefined;
    });
    return running.device as string;
  }

  /** Kills the device's daemon and the app process it started (found by its pid file), as a device dying takes both. */
  function killDevice(name: string): Promise<void> {
    const pidFile = join(home(name), "apps", "notes", "pid");
    const pid = existsSync(pidFile) ? Number(readFileSync(pidFile, "utf8").trim()) : undefined;
    const killed = (daemons().get(name) as Daemon).kill();
    if (pid) {
      try {
        process.kill(pid, "SIGKILL");
      } catch {
        // Gone with its daemon.
      }
    }
    return killed;
  }

  return { home, status, notes, write, settled, install, killDevice };
}
