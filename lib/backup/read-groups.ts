/**
 * Reading many blobs of a pack: those close together in one read, rather than one read
 * each (over SFTP, a round trip each).
 */

/** Blobs closer than this in a pack are read in one go. */
const READ_GAP_BYTES = 1024 * 1024;
/** The most one read of a run spans. */
const MAX_READ_BYTES = 32 * 1024 * 1024;

/** Runs of blobs close enough together to read at once. */
export function readGroups<T extends { offset: number; length: number }>(
  sorted: readonly T[],
): T[][] {
  const groups: T[][] = [];
  let group: T[] = [];
  for (const blob of sorted) {
    const first = group[0];
    const last = group[group.length - 1];
    if (
      first &&
      last &&
      (blob.offset - (last.offset + last.length) > READ_GAP_BYTES ||
        blob.offset + blob.length - first.offset > MAX_READ_BYTES)
    ) {
      groups.push(group);
      group = [];
    }
    group.push(blob);
  }
  if (group.length > 0) groups.push(group);
  return groups;
}
