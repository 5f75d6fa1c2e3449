/**
 * A progress line for long backup work, on a terminal only (stderr, redrawn in place at
 * most five times a second): what is done, the rate, and the time left when the total
 * is known. Pipes and --json get none, so scripts see only the result.
 */
import { formatBytes } from "../../lib/units.ts";

/** Where the daemon asks a backup it runs to say how far it has come (lib/backup/progress-file.ts). */
export const progressFileArg = {
  "progress-file": {
    type: "string",
    valueHint: "file",
    description: "Keep how far it has come in this file while it runs (what the daemon reads)",
  },
} as const;

export interface ProgressLine {
  update(done: { files: number; bytes: number }, total?: { files: number; bytes: number }): void;
  finish(): void;
}

export function progressLine(enabled: boolean, verb: string): ProgressLine {
  if (!enabled || !process.stderr.isTTY) return { update() {}, finish() {} };
  const started = performance.now();
  let drawnAt = 0;
  let drawn = false;
  return {
    update(done, total) {
      const now = performance.now();
      if (now - drawnAt < 200) return;
      drawnAt = now;
      const seconds = (now - started) / 1000;
      const rate = seconds > 0 ? done.bytes / seconds : 0;
      const parts = [
        `${verb} ${done.files}${total ? `/${total.files}` : ""} ${(total?.files ?? done.files) === 1 ? "file" : "files"}`,
        `${formatBytes(done.bytes)}${total ? ` of ${formatBytes(total.bytes)}` : ""}`,
        `${formatBytes(rate)}/s`,
      ];
      if (total && rate > 0 && total.bytes > done.bytes)
        parts.push(`about ${Math.ceil((total.bytes - done.bytes) / rate)} s left`);
      process.stderr.write(`\r\x1b[2K${parts.join(", ")}`);
      drawn = true;
    },
    finish() {
      if (drawn) process.stderr.write("\r\x1b[2K");
    },
  };
}
