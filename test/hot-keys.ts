/** What a repository's hot backup holds of the zone state, read with a home's backup key. */
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { hotChangesets } from "../lib/backup/hot.ts";
import { LocalBackend } from "../lib/backup/local-backend.ts";
import { Repository } from "../lib/backup/repository.ts";
import { decodeChangeset } from "../protocol/changeset.ts";

/** The keys of the zone state's changes shipped hot to the repository at `repo`. */
export async function hotKeys(repo: string, home: string): Promise<string[]> {
  if (!existsSync(join(repo, "hot"))) return [];
  const key = readFileSync(join(home, "identity", "backup.key"), "utf8").trim();
  const root = new Uint8Array(Buffer.from(key.slice(key.indexOf(":") + 1), "base64url"));
  const repository = await Repository.open(new LocalBackend(repo), root, { withIndex: false });
  try {
    return (await hotChangesets(repository)).changesets.flatMap((bytes) =>
      decodeChangeset(bytes).ops.map((op) => op.key),
    );
  } finally {
    repository.close();
  }
}
