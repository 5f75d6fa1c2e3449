/**
 * The zone state images (`state.db`) of snapshots, as a home restore reads them: each
 * restored once into a scratch directory, however many snapshots share it (a device's
 * state that did not change between two of them) and whoever asks (the owner's revocations
 * in every device's state, then the changesets of each to merge). They stay until the
 * restore is done with them (close, or the scratch directory removed).
 */
import { randomBytes } from "node:crypto";
import { rmSync } from "node:fs";
import { join } from "node:path";
import { BuckyError } from "../errors.ts";
import type { Repository } from "./repository.ts";
import { readTree, restoreTree } from "./restorer.ts";
import type { NamedSnapshot } from "./snapshot-trust.ts";

export class StateImages {
  /** By the state's content (its chunks' ids): where it was restored, or why it was not. */
  private readonly restored = new Map<string, { path: string } | { damaged: BuckyError }>();
  private readonly dirs: string[] = [];

  constructor(
    private readonly repository: Repository,
    private readonly scratch: string,
  ) {}

  /**
   * The path of the state image `entry` holds, restored; undefined when it holds none. An
   * image that is damaged (a blob missing or not what its id says) is an E_INTEGRITY error,
   * each time it is asked for.
   */
  async pathOf(entry: NamedSnapshot): Promise<string | undefined> {
    const node = (await readTree(this.repository, entry.snapshot.tree)).find(
      (n) => n.name === "state.db",
    );
    if (node?.type !== "file") return undefined;
    const content = node.content.join(",");
    const known = this.restored.get(content);
    if (known) {
      if ("damaged" in known) throw known.damaged;
      return known.path;
    }
    const dir = join(this.scratch, `.state-${randomBytes(4).toString("hex")}`);
    this.dirs.push(dir);
    const result = await restoreTree(this.repository, entry.snapshot.tree, dir, {
      path: "state.db",
    });
    if (result.damaged.length > 0) {
      const damaged = new BuckyError(
        "E_INTEGRITY",
        `state.db in snapshot ${entry.name.slice(0, 8)} of ${entry.snapshot.device} is damaged (${result.damaged.length} files); the home was left as it was`,
        "Run `bucky backup verify --read-data` to see what is damaged.",
      );
      this.restored.set(content, { damaged });
      throw damaged;
    }
    const path = join(dir, "state.db");
    this.restored.set(content, { path });
    return path;
  }

  /** Removes the images restored. */
  close(): void {
    for (const dir of this.dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
    this.restored.clear();
  }
}
