/** The command line as a whole: help, version, JSON output and errors, status. */
import { afterAll, describe, expect, test } from "bun:test";
import { existsSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { verifyDeviceDocument, verifyZoneDocument } from "../protocol/documents.ts";
import type { ZoneId } from "../protocol/ids.ts";
import { bucky, buckyJson, cleanUp, jsonError, newHomePath, scratchDir } from "./harness.ts";

afterAll(cleanUp);

describe("help and version", () => {
  test("--version prints the version from package.json", async () => {
    const { version } = await Bun.file(new URL("../package.json", import.meta.url)).json();
    const result = await bucky(["--version"]);
    expect([result.exitCode, result.stdout, result.stderr]).toEqual([0, `bucky ${version}\n`, ""]);
    expect(await buckyJson(["version"])).toEqual({ version, runtime: `bun ${Bun.version}` });
  });

  test("takes no bunfig.toml or .env from the directory it is run in", async () => {
    // Anyone who can leave files in a directory (an unpacked archive, a clone, /tmp) would
    // otherwise run code as whoever types `bucky` there, and choose the home it acts on.
    const dir = scratchDir();
    const planted = join(dir, "planted-home");
    const ran = join(dir, "preload-ran");
    writeFileSync(join(dir, "bunfig.toml"), 'preload = ["./preload.js"]\n');
    writeFileSync(
      join(dir, "preload.js"),
      `require("node:fs").writeFileSync(${JSON.stringify(ran)}, "ran");\n`,
    );
    writeFileSync(join(dir, ".env"), `BUCKY_HOME=${planted}\n`);
    const version = await bucky(["--version"], { cwd: dir });
    const status = await bucky(["status", "--json"], { cwd: dir });
    expect({
      version: version.exitCode,
      preloadRan: existsSync(ran),
      statusCode: jsonError(status).code,
      homeFromEnvFile: jsonError(status).message.includes(planted),
    }).toEqual({ version: 0, preloadRan: false, statusCode: "E_NO_ZONE", homeFromEnvFile: false });
  });

  test("--help lists every command and the global options", async () => {
    const result = await bucky(["--help"]);
    expect(result.exitCode).toBe(0);
    for (const line of [
      "Usage: bucky <command> [options]",
      "  init ",
      "  status ",
      "  zone ",
      "--home <dir>",
      "--json",
    ]) {
      expect(result.stdout).toContain(line);
    }
    expect(result.stdout).not.toContain("\u001b[");
  });

  test("a command's --help shows its own options and examples", async () => {
    const result = await bucky(["init", "--help"]);
    expect(result.exitCode).toBe(0);
    for (const line of [
      "Usage: bucky init [options]",
      "--name <zone>",
      "--device <name>",
      "--recover",
      "Examples:",
    ]) {
      expect(result.stdout).toContain(line);
    }
  });

  test("a group without a command shows its commands", async () => {
    const result = await bucky(["zone"]);
    expect(result.exitCode).toBe(0);
    expect(result.stdout).toContain("Usage: bucky zone <command> [options]");
    expect(result.stdout).toContain("  show ");
  });

  test("an unknown command is a usage error", async () => {
    const result = await bucky(["frobnicate", "--json"]);
    expect(result.exitCode).toBe(2);
    expect(result.stdout).toBe("");
    expect(jsonError(result)).toEqual({
      code: "E_USAGE",
      message: 'unknown command "frobnicate"',
      hint: "Run `bucky --help` to see the commands.",
    });
  });

  test("an error is printed as JSON when the command line asks for it, in any spelling", async () => {
    for (const args of [["--json=true"], ["-json"], ["--no-json", "--json"]]) {
      const result = await bucky(["frobnicate", ...args]);
      expect(jsonError(result).code).toBe("E_USAGE");
    }
    for (const args of [["--json", "--no-json"], ["--json=false"], ["--", "--json"]]) {
      const result = await bucky(["frobnicate", ...args]);
      expect(result.stderr).toStartWith('error: unknown command "frobnicate"');
    }
  });

  test("a group: global flags with their values are no command, unknown flags are refused, and asked for JSON it says what is missing", async () => {
    const usage = await bucky(["app", "--home", "/tmp/x", "--log-level", "debug"]);
    expect([usage.exitCode, usage.stdout]).toEqual([
      0,
      expect.stringContaining("Usage: bucky app <command>"),
    ]);
    const asJson = await bucky(["--home", "/tmp/x", "--json"]);
    expect([asJson.exitCode, asJson.stdout, jsonError(asJson)]).toEqual([
      2,
      "",
      {
        code: "E_USAGE",
        message: "bucky needs a command",
        hint: "Run `bucky --help` to see its commands.",
      },
    ]);
    const bogus = await bucky(["app", "--bogus", "--json"]);
    expect([bogus.exitCode, bogus.stdout, jsonError(bogus).message]).toEqual([
      2,
      "",
      "bucky app has no option --bogus",
    ]);
    const help = await bucky(["backup", "target", "--help", "--json"]);
    expect([help.exitCode, help.stdout]).toEqual([
      0,
      expect.stringContaining("Usage: bucky backup target"),
    ]);
  });

  test("an unexpected argument is a usage error", async () => {
    const result = await bucky(["status", "extra"]);
    expect(result.exitCode).toBe(2);
    expect(result.stderr).toBe(
      'error: bucky status does not take the argument "extra"\nhint: Run `bucky status --help` to see what it accepts.\n',
    );
  });

  test("a value that starts with a dash is taken after --, as the hint says", async () => {
    const home = newHomePath();
    await buckyJson(["init", "--home", home]);
    const asOption = await bucky(["get", "-abc", "--home", home, "--json"]);
    expect(jsonError(asOption)).toMatchObject({
      code: "E_USAGE",
      message: "bucky get has no option -abc",
      hint: expect.stringContaining("`bucky get [options] -- <id>`"),
    });
    const asValue = await bucky(["get", "-o", "out", "--home", home, "--json", "--", "-abc"]);
    expect(jsonError(asValue).message).toBe("-abc is not an object id");
    // `-` is no file, nor standard output: get writes a file whole, then renames it in.
    const dash = await bucky([
      "get",
      `sha256:${"0".repeat(64)}`,
      "-o",
      "-",
      "--home",
      home,
      "--json",
    ]);
    expect([dash.exitCode, jsonError(dash).message]).toEqual([2, '-o "-" is not a file to write']);
    expect(existsSync("-")).toBe(false);
    // After --, options are values too: more than the command takes is refused, not dropped
    // (the write went to the default home, its --home and --json unread).
    const past = await bucky(["state", "set", "--", "apps/k", "2", "--home", home, "--json"]);
    expect([past.exitCode, past.stdout, past.stderr]).toEqual([
      2,
      "",
      'error: bucky state set does not take the argument "--home"\nhint: Run `bucky state set --help` to see what it accepts.\n',
    ]);
    // A command whose last argument takes every word after it takes them, -- or not (and,
    // its daemon not running here, gets as far as asking it).
    for (const words of [
      ["photo", "editor"],
      ["--", "photo", "--editor"],
    ]) {
      const search = await bucky(["store", "search", "--home", home, "--json", ...words]);
      expect([words, jsonError(search).code]).toEqual([words, "E_UNAVAILABLE"]);
    }
  });

  test("a number a flag takes is checked before the daemon is asked: named by its flag, with none running", async () => {
    const home = newHomePath();
    await buckyJson(["init", "--home", home]);
    for (const [args, message] of [
      [
        ["app", "logs", "notes", "--lines", "abc"],
        '--lines is "abc", not a whole number from 1 to 1000',
      ],
      [["agent", "log", "--limit", "1e99"], '--limit is "1e99", not a whole number from 1 to 1000'],
      [["traffic", "--since", "99999999999d"], '--since "99999999999d" is longer than 36500 days'],
    ] as const) {
      const result = await bucky([...args, "--home", home, "--json"]);
      expect([args, result.exitCode, jsonError(result).code, jsonError(result).message]).toEqual([
        args,
        2,
        "E_USAGE",
        message,
      ]);
    }
  });

  test("an unknown log level is a usage error", async () => {
    const result = await bucky(["status", "--log-level", "loud", "--json"]);
    expect(result.exitCode).toBe(2);
    expect(jsonError(result).message).toBe('unknown log level "loud"');
  });
});

describe("bucky status", () => {
  test("reports the zone, this device, the devices and reliability level 0", async () => {
    const home = newHomePath();
    const init = await buckyJson<{ zone: { id: string }; device: { id: string } }>([
      "init",
      "--home",
      home,
      "--name",
      "family",
      "--device",
      "nas",
    ]);
    // Global flags may come before the command too.
    const status = await buckyJson<{ reliability: ReliabilityNotes }>(["--home", home, "status"]);
    expect(withoutDiskNotes(status)).toEqual({
      home,
      zone: { id: init.zone.id, name: "family" },
      device: { id: init.device.id, name: "nas", holdsOwnerKey: true },
      // Its node has not run yet: nobody has heard it.
      devices: [{ id: init.device.id, name: "nas", status: "offline" }],
      reliability: {
        level: 0,
        meaning: "one-device-no-backup",
        summary: "one device, no backup: data may be lost at any time",
        unprotected: [],
        warnings: [
          "nas's data is in no backup outside the zone yet: add a target with `bucky backup target add` on nas",
        ],
        // The same, as data: what the panel says in the viewer's language.
        notes: [{ kind: "no-backup", device: "nas", why: "no-target" }],
      },
      backups: [],
      gateways: [],
      imageNotes: [],
      images: [],
      certificates: [],
      warnings: [],
      sandbox: [],
      unreadableApps: [],
      ungrantedPurges: [],
      brokenChains: [],
      nameClashes: [],
      publicPastBudget: [],
      storedFilesAtRisk: [],
      unsignedBudgets: [],
      writesRefused: [],
      storedFiles: {
        files: 0,
        bytes: 0,
        fewerThanTwoCopies: 0,
        pastBudget: 0,
        budgetBytes: 32 * 1024 ** 3,
      },
      quarantined: [],
      revokedForks: [],
    });
  });

  test("prints a readable summary without --json", async () => {
    const home = newHomePath();
    await buckyJson(["init", "--home", home, "--device", "nas"]);
    const result = await bucky(["status", "--home", home]);
    expect(result.exitCode).toBe(0);
    expect(result.stdout).toMatch(/^Zone {9}home \(z[a-z2-7]{52}\)\n/);
    expect(result.stdout).toContain(
      "Reliability  level 0: one device, no backup: data may be lost at any time\n",
    );
    expect(result.stderr).toBe("");
  });

  test("a home without a zone says how to make one", async () => {
    const home = newHomePath();
    const result = await bucky(["status", "--home", home, "--json"]);
    expect(result.exitCode).toBe(1);
    expect(result.stdout).toBe("");
    expect(jsonError(result)).toEqual({
      code: "E_NO_ZONE",
      message: `${home} has no zone`,
      hint: "Create one with `bucky init`, or point --home (or BUCKY_HOME) at an existing home.",
    });
    // Also where a command would read the home before anything else (it measured it first).
    const add = await bucky([
      "backup",
      "target",
      "add",
      "usb",
      newHomePath(),
      "--home",
      home,
      "--json",
    ]);
    expect([add.exitCode, jsonError(add).code]).toEqual([1, "E_NO_ZONE"]);
  });
});

describe("bucky zone show", () => {
  test("decodes the verified documents, and --raw prints the JWS that verify", async () => {
    const home = newHomePath();
    const init = await buckyJson<{ zone: { id: ZoneId } }>([
      "init",
      "--home",
      home,
      "--device",
      "nas",
    ]);
    const shown = await buckyJson<{
      zone: { payload: unknown; header: unknown };
      devices: { name: string; payload: unknown }[];
    }>(["zone", "show", "--home", home]);
    expect(shown.zone.header).toEqual({ alg: "EdDSA", typ: "bucky-zone/1", kid: init.zone.id });
    expect(shown.zone.payload).toMatchObject({ id: init.zone.id, name: "home" });
    expect(shown.devices.map((device) => device.name)).toEqual(["nas"]);

    const raw = await bucky(["zone", "show", "--raw", "--home", home]);
    const [zoneJws, deviceJws] = raw.stdout.trim().split("\n") as [string, string];
    expect(verifyZoneDocument(zoneJws, init.zone.id).name as string).toBe("home");
    expect(verifyDeviceDocument(deviceJws, init.zone.id).name as string).toBe("nas");
  });
});

interface ReliabilityNotes {
  readonly warnings: readonly string[];
  readonly notes: readonly { readonly kind: string }[];
}

/**
 * `status` without its note on this device's disk: the disk is the real one the tests run
 * on, nearly full on some machines and not on others (lib/zone/reliability.test.ts and
 * cmd/status.test.ts cover the note itself).
 */
function withoutDiskNotes(status: { reliability: ReliabilityNotes }): unknown {
  const { warnings, notes } = status.reliability;
  return {
    ...status,
    reliability: {
      ...status.reliability,
      warnings: warnings.filter((warning) => !warning.includes("'s disk is nearly full: ")),
      notes: notes.filter((note) => note.kind !== "disk-nearly-full"),
    },
  };
}
