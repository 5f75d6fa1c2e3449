/** How `backup verify` and `backup list` say a device's last backup is gone from the target. */
import type { SaidLatest } from "../../lib/backup/said-latest.ts";

/** One indented line per device whose last backup the target lacks, with what to do. */
export function missingLatestText(missing: readonly SaidLatest[]): string[] {
  return missing.map(
    (m) =>
      `  ${m.device}'s last backup (${m.snapshot.slice(0, 8)}, ${m.at}) is not in the target, nor any later one: it was lost there or hidden, and a restore of ${m.device}'s latest takes an older one only with --accept-older. Its next backup (\`bucky backup run\` on ${m.device}) stores it again.`,
  );
}
