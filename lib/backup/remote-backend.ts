/**
 * A repository reached through another device of the zone: the one that added the target
 * and can reach it (its "via"). Each file operation is a signed request to the via
 * device's peer API (protocol/backup/remote.ts), directly or through a relay, which
 * carries it out on its own connection to the target (target-host.ts). Everything written
 * was sealed here first, so the via device passes on bytes it cannot read.
 */
import {
  decodeCreated,
  decodeNames,
  encodeRemoteRequest,
  REMOTE_READ_MAX_BYTES,
  REMOTE_WRITE_MAX_BYTES,
  type RemoteRequest,
} from "../../protocol/backup/remote.ts";
import { BuckyError } from "../errors.ts";
import { isUnreachable, type PeerClient } from "../node/peer-client.ts";
import type { Peer } from "../node/peers.ts";
import { type Backend, isPlainName, type Listing, tooLarge } from "./backend.ts";

/** A pack of 15 MiB through a relay on a slow link takes a while: wait this long. */
const REMOTE_TIMEOUT_MS = 120_000;

export class RemoteBackend implements Backend {
  readonly maxWriteBytes = REMOTE_WRITE_MAX_BYTES;
  /** The via reads a file for us, then sends it whole in one answer (target-host.ts). */
  readonly readsWholeUpTo = REMOTE_READ_MAX_BYTES;
  readonly agesLocks = true;
  readonly location: string;
  leftOutNames = 0;

  constructor(
    private readonly client: PeerClient,
    private readonly via: Peer,
    private readonly target: string,
    url: string,
  ) {
    this.location = `${url} (through ${via.name})`;
  }

  async write(path: string, data: Uint8Array | readonly Uint8Array[]): Promise<void> {
    await this.call({ op: "write", path, data: whole(data, path, this.location) });
  }

  async create(path: string, data: Uint8Array): Promise<boolean> {
    return decodeCreated(
      await this.call({ op: "create", path, data: whole(data, path, this.location) }),
    );
  }

  /** The device that reaches the target bounds a snapshot file's size itself (target-host.ts). */
  async read(path: string, maxBytes: number): Promise<Uint8Array> {
    const bytes = await this.call({ op: "read", path });
    if (bytes.length > maxBytes) throw tooLarge(path, maxBytes);
    return bytes;
  }

  async readRange(path: string, offset: number, length: number): Promise<Uint8Array> {
    // Read in pieces a request can carry; a range is rarely over one.
    const parts: Uint8Array[] = [];
    for (let done = 0; done < length; ) {
      const take = Math.min(REMOTE_READ_MAX_BYTES, length - done);
      const part = await this.call({ op: "readRange", path, offset: offset + done, length: take });
      if (part.length !== take)
        throw new BuckyError(
          "E_INTEGRITY",
          `${this.location}/${path} is shorter than the index says`,
        );
      parts.push(part);
      done += take;
    }
    return parts.length === 1 ? (parts[0] as Uint8Array) : new Uint8Array(Buffer.concat(parts));
  }

  /** The via bounds how many names it lists (MAX_DIRECTORY_NAMES), and decodeNames checks. */
  async list(dir: string): Promise<string[]> {
    const names = decodeNames(await this.call({ op: "list", path: dir }));
    const plain = names.filter(isPlainName);
    this.leftOutNames += names.length - plain.length;
    return plain;
  }

  /**
   * The via cuts hot/ at MAX_DIRECTORY_NAMES (target-host.ts) but cannot say so: a listing
   * on the wire is names only. A cut listing reads as whole here.
   */
  async listCut(dir: string): Promise<Listing> {
    return { names: await this.list(dir), cut: false };
  }

  async remove(path: string): Promise<void> {
    await this.call({ op: "remove", path });
  }

  async close(): Promise<void> {}

  private async call(request: RemoteRequest): Promise<Uint8Array> {
    try {
      return await this.client.post(
        this.via,
        `/v1/backup/targets/${this.target}`,
        encodeRemoteRequest(request),
        // Every operation but `create` leaves the target as one would (a second `create`
        // finds the first's file and fails).
        { timeoutMs: REMOTE_TIMEOUT_MS, repeatable: request.op !== "create" },
      );
    } catch (error) {
      if (!isUnreachable(error)) throw error;
      throw new BuckyError(
        "E_UNAVAILABLE",
        `the backup target ${this.target} is reached through ${this.via.name}, which is not answering: ${(error as BuckyError).message}`,
        `Backups to ${this.target} go on by themselves once ${this.via.name} is back online.`,
        { cause: error },
      );
    }
  }
}

function whole(
  data: Uint8Array | readonly Uint8Array[],
  path: string,
  location: string,
): Uint8Array {
  const bytes = data instanceof Uint8Array ? data : new Uint8Array(Buffer.concat(data));
  if (bytes.length > REMOTE_WRITE_MAX_BYTES)
    throw new BuckyError(
      "E_IO",
      `${location}/${path} is ${bytes.length} bytes, more than one request to another device carries (${REMOTE_WRITE_MAX_BYTES})`,
      "Back up on the device that reaches the target, or add a target this device reaches itself.",
    );
  return bytes;
}
