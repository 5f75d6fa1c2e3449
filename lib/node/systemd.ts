/**
 * Running the daemon at boot under systemd, restarted when it crashes. Where systemd is
 * not running (a container, another init system) nothing is installed: the unit is
 * returned with what to do with it.
 */
import { existsSync, mkdirSync, rmSync, writeFileSync } from "node:fs";
import { homedir } from "node:os";
import { join } from "node:path";
import { BuckyError } from "../errors.ts";
import { DAEMON_CONSOLE_ARGS, DAEMON_ENV } from "./daemon-env.ts";

/** The unit of the default home; another home's unit is named after it (see cmd/). */
export const UNIT_NAME = "bucky.service";

/** Where a unit lives and how to reach it. */
export interface UnitFile {
  /** Its name, such as bucky.service. */
  readonly name: string;
  readonly path: string;
  readonly systemctl: readonly string[];
}

export interface UnitOptions {
  /** The command that runs bucky: the binary, or the runtime and its entry script. */
  readonly command: readonly string[];
  readonly home: string;
  readonly extraArgs: readonly string[];
  /** Root installs a system unit; anyone else a user unit. */
  readonly system: boolean;
  /** The unit's name (default: bucky.service). */
  readonly name?: string;
}

export interface UnitPlan extends UnitFile {
  readonly unit: string;
}

export function unitFile(name: string, system: boolean): UnitFile {
  const dir = system ? "/etc/systemd/system" : join(homedir(), ".config/systemd/user");
  return {
    name,
    path: join(dir, name),
    systemctl: system ? ["systemctl"] : ["systemctl", "--user"],
  };
}

export function planUnit(options: UnitOptions): UnitPlan {
  const execStart = [
    ...options.command,
    ...["daemon", "--home", options.home, ...options.extraArgs, ...DAEMON_CONSOLE_ARGS],
  ]
    .map(quote)
    .join(" ");
  const unit = [
    "[Unit]",
    "Description=bucky: your personal cloud node",
    "Wants=network-online.target",
    "After=network-online.target",
    "",
    "[Service]",
    ...Object.entries(DAEMON_ENV).map(([name, value]) => `Environment=${name}=${value}`),
    `ExecStart=${execStart}`,
    "Restart=always",
    "RestartSec=2",
    "# Exit 4 is an integrity error (an altered zone state): starting again cannot cure it,",
    "# and `bucky status` says how to mend it. Exit 5: the owner revoked this device.",
    "RestartPreventExitStatus=4 5",
    "",
    "[Install]",
    `WantedBy=${options.system ? "multi-user.target" : "default.target"}`,
    "",
  ].join("\n");
  return { unit, ...unitFile(options.name ?? UNIT_NAME, options.system) };
}

/** Whether systemd is this machine's running init system. */
export function systemdRunning(): boolean {
  return existsSync("/run/systemd/system");
}

export function installUnit(plan: UnitPlan): void {
  mkdirSync(join(plan.path, ".."), { recursive: true });
  writeFileSync(plan.path, plan.unit, { mode: 0o644 });
  systemctl(plan, ["daemon-reload"]);
  systemctl(plan, ["enable", "--now", plan.name]);
}

export function unitInstalled(file: UnitFile): boolean {
  return existsSync(file.path);
}

/** Stops the unit's daemon until the next boot (or `bucky up`); it stays installed. */
export function stopUnit(file: UnitFile): void {
  systemctl(file, ["stop", file.name]);
}

export function uninstallUnit(plan: UnitFile): boolean {
  if (!existsSync(plan.path)) return false;
  systemctl(plan, ["disable", "--now", plan.name]);
  rmSync(plan.path);
  systemctl(plan, ["daemon-reload"]);
  return true;
}

function systemctl(plan: UnitFile, args: string[]): void {
  const run = Bun.spawnSync([...plan.systemctl, ...args], { stdout: "ignore", stderr: "pipe" });
  if (run.exitCode !== 0) {
    throw new BuckyError(
      "E_UNAVAILABLE",
      `${[...plan.systemctl, ...args].join(" ")} failed: ${run.stderr.toString().trim()}`,
      "Check `systemctl status bucky` and the journal.",
    );
  }
}

function quote(word: string): string {
  return /^[\w@%+=:,./-]+$/.test(word) ? word : `"${word.replace(/(["\\$`])/g, "\\$1")}"`;
}
