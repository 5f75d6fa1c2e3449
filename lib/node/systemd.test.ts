import { describe, expect, test } from "bun:test";
import { DAEMON_ENV } from "./daemon-env.ts";
import { planUnit } from "./systemd.ts";

describe("the systemd unit", () => {
  test("runs the daemon for its home, with the environment and console a daemon started in the background gets", () => {
    const { unit } = planUnit({
      command: ["/usr/local/bin/bucky"],
      home: "/var/lib/bucky",
      extraArgs: ["--port", "7070"],
      system: true,
    });
    const lines = unit.split("\n");
    expect(lines).toContain(
      // Errors only in the journal: every request's line there grew with anyone's scans.
      "ExecStart=/usr/local/bin/bucky daemon --home /var/lib/bucky --port 7070 --log-level error",
    );
    expect(Object.keys(DAEMON_ENV).length).toBeGreaterThan(0);
    for (const [name, value] of Object.entries(DAEMON_ENV))
      expect(lines).toContain(`Environment=${name}=${value}`);
  });
});
