/**
 * What a checkpoint never lets go of: changesets that hold membership (the zone document,
 * device documents, revocations) and revocations of AI agents' grants. Their values are
 * signed statements in their own right; keeping the changesets that carry them keeps who
 * said what, and when, for every device to check again. Of an agent's revocation, only the
 * write the checkpoint holds is kept: any member may write one again and again (and only
 * the owner the others), so keeping each would let one member keep history from ever
 * being compacted.
 */

/** Whether a write to `key` is evidence kept through every checkpoint. */
export function isEvidence(key: string): boolean {
  return (
    key === "boot/config" ||
    /^devices\/[^/]+\/(doc|revoked)$/.test(key) ||
    key.startsWith("revoked-agents/")
  );
}

/** Whether `key` revokes an agent's grant: evidence only in the write the checkpoint holds. */
export function isAgentRevocation(key: string): boolean {
  return key.startsWith("revoked-agents/");
}
