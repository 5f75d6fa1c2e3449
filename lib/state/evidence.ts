/**
 * What a checkpoint never lets go of: changesets that hold membership (the zone document,
 * device documents, revocations) and revocations of AI agents' grants. Their values are
 * signed statements in their own right; keeping the changesets that carry them keeps who
 * said what, and when, for every device to check again.
 */

/** Whether a write to `key` is evidence kept through every checkpoint. */
export function isEvidence(key: string): boolean {
  return (
    key === "boot/config" ||
    /^devices\/[^/]+\/(doc|revoked)$/.test(key) ||
    key.startsWith("revoked-agents/")
  );
}
