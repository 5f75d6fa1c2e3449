import { describe, expect, test } from "bun:test";
import { encodeNames } from "../../protocol/backup/remote.ts";
import type { PeerClient } from "../node/peer-client.ts";
import type { Peer } from "../node/peers.ts";
import { RemoteBackend } from "./remote-backend.ts";

/** A backend whose via answers every request with `answer`. */
function through(answer: Uint8Array): RemoteBackend {
  const client = { post: async () => answer } as unknown as PeerClient;
  const via = { name: "nas" } as Peer;
  return new RemoteBackend(client, via, "usb", "sftp://me@host/backups");
}

describe("RemoteBackend", () => {
  test("a listing a via passes on keeps only plain names, and counts the others", async () => {
    // A via passes on what its target lists: an older bucky's, or one a revoked device runs, checks nothing.
    const good = ["0123456789abcdef0123456789abcdef", "fedcba9876543210fedcba9876543210"];
    const backend = through(
      encodeNames([good[0] as string, "0/../../../dev/zero", "..", ".", good[1] as string]),
    );
    expect(await backend.list("index")).toEqual(good);
    expect(backend.leftOutNames).toBe(3);
  });
});
