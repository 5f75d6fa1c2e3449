/**
 * Running the daemon at boot under systemd, restarted when it crashes. Where systemd is
 * not running (a container, another init system) nothing is installed: the unit is
 * returned with what to do with it.
 */
import { existsSync, mkdirSync, rmSync, writeFileSync } from "node:fs";
import { homedir } from "node:os";
import { join } from "node:path";
import { BuckyError } from "../errors.ts";

export const UNIT_NAME = "bucky.service";

export interface UnitOptions {
  /** The command that runs bucky: the binary, or the runtime and its entry script. */
  readonly command: readonly string[];
  readonly home: string;
  readonly extraArgs: readonly string[];
  /** Root installs a system unit; anyone else a user unit. */
  readonly system: boolean;
}

export interface UnitPlan {
  readonly unit: string;
  readonly path: string;
  readonly systemctl: readonly string[];
}

export function planUnit(options: UnitOptions): UnitPlan {
  const execStart = [...options.command, "daemon", "--home", options.home, ...options.extraArgs]
    .map(quote)
    .join(" ");
  const unit = [
    "[Unit]",
    "Description=bucky: your personal cloud node",
    "Wants=network-online.target",
    "After=network-online.target",
    "",
    "[Service]",
    `ExecStart=${execStart}`,
    "Restart=always",
    "RestartSec=2",
    "",
    "[Install]",
    `WantedBy=${options.system ? "multi-user.target" : "default.target"}`,
    "",
  ].join("\n");
  const dir = options.system ? "/etc/systemd/system" : join(homedir(), ".config/systemd/user");
  return {
    unit,
    path: join(dir, UNIT_NAME),
    systemctl: options.system ? ["systemctl"] : ["systemctl", "--user"],
  };
}

/** Whether systemd is this machine's running init system. */
export function systemdRunning(): boolean {
  return existsSync("/run/systemd/system");
}

export function installUnit(plan: UnitPlan): void {
  mkdirSync(join(plan.path, ".."), { recursive: true });
  writeFileSync(plan.path, plan.unit, { mode: 0o644 });
  systemctl(plan, ["daemon-reload"]);
  systemctl(plan, ["enable", "--now", UNIT_NAME]);
}

export function uninstallUnit(plan: UnitPlan): boolean {
  if (!existsSync(plan.path)) return false;
  systemctl(plan, ["disable", "--now", UNIT_NAME]);
  rmSync(plan.path);
  systemctl(plan, ["daemon-reload"]);
  return true;
}

function systemctl(plan: UnitPlan, args: string[]): void {
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
