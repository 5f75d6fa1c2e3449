/**
 * The pair keys this device authenticates requests with (protocol/request-auth.ts,
 * version 2), made once per peer and kept: a key agreement costs about what the
 * signature it replaces did, and the pair of device keys behind it never changes (a
 * device id is its key). Whether a device may still call is not the key's to say: the
 * callers check its standing at every request, so a revoked device's key no longer opens
 * anything even while it is kept.
 */
import type { DeviceId } from "../../protocol/ids.ts";
import type { PairKeys } from "../../protocol/pair-key.ts";
import { REQUEST_KEY_PURPOSE } from "../../protocol/request-auth.ts";

/** Past this many peers the keys are made again as needed (a zone has a handful). */
const MAX_KEPT = 1024;

export class RequestKeys {
  private readonly outbound = new Map<DeviceId, Uint8Array>();
  private readonly inbound = new Map<DeviceId, Uint8Array>();

  constructor(private readonly pair: PairKeys) {}

  get self(): DeviceId {
    return this.pair.self;
  }

  /** The key this device authenticates its requests to `peer` with. */
  to(peer: DeviceId): Uint8Array {
    return kept(this.outbound, peer, true, () =>
      this.pair.key(this.pair.self, peer, REQUEST_KEY_PURPOSE),
    );
  }

  /**
   * The key `peer`'s requests to this device are authenticated with; `keep` it only for a
   * member (anyone can name any device id: a stranger's would only fill memory).
   */
  from(peer: DeviceId, keep: boolean): Uint8Array {
    return kept(this.inbound, peer, keep, () =>
      this.pair.key(peer, this.pair.self, REQUEST_KEY_PURPOSE),
    );
  }
}

function kept(
  keys: Map<DeviceId, Uint8Array>,
  peer: DeviceId,
  keep: boolean,
  make: () => Uint8Array,
): Uint8Array {
  const known = keys.get(peer);
  if (known) return known;
  const key = make();
  if (!keep) return key;
  if (keys.size >= MAX_KEPT) keys.clear();
  keys.set(peer, key);
  return key;
}
