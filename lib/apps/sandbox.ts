/**
 * Whether this device can sandbox apps: bubblewrap must be installed and allowed to make
 * namespaces here (containers often forbid it). Checked once, at daemon start.
 */
export function usableBwrap(path: string | null): string | undefined {
  if (!path) return undefined;
  const probe = Bun.spawnSync(
    [path, "--ro-bind", "/", "/", "--dev", "/dev", "--proc", "/proc", "--unshare-pid", "true"],
    {
      stdout: "ignore",
      stderr: "ignore",
    },
  );
  return probe.exitCode === 0 ? path : undefined;
}
