/**
 * A small client of the OCI distribution API, as registries (Docker Hub, GHCR, Quay, a
 * `docker-registry` at home) serve it: manifests by tag or digest, blobs by digest, and
 * the token dance they ask for (a 401 with `WWW-Authenticate: Bearer realm=…`, an
 * anonymous token from that realm for `repository:<name>:pull`, the request again).
 *
 * Nothing a registry sends is trusted: every manifest and blob is checked against its
 * digest (a layer hashed as it streams into its staging, lib/images/blob-staging.ts, and
 * refused the moment it runs past its size), redirects are followed by hand (credentials
 * never go to another host, and never from https to http), and every answer has a size
 * limit and a time limit (lib/node/bounded-read.ts). Registries on this machine's
 * loopback are spoken to in plain HTTP; every other one over HTTPS.
 */
import { DOCKER_HUB, type ImageRef } from "../../protocol/image-ref.ts";
import {
  type Descriptor,
  MANIFEST_ACCEPT,
  MAX_MANIFEST_BYTES,
  sha256Digest,
} from "../../protocol/oci.ts";
import { BuckyError, fileSystemError } from "../errors.ts";
import { type BoundedReadWords, bytesWithin, chunksWithin } from "../node/bounded-read.ts";
import { networkProblem } from "../node/network-errors.ts";
import type { BlobStaging, StagedBlob } from "./blob-staging.ts";

/** How long a registry may stay silent, while connecting or in the middle of a blob. */
export const REGISTRY_IDLE_MS = 60_000;
const MAX_REDIRECTS = 5;
const MAX_TOKEN_BYTES = 64 * 1024;
const MAX_ERROR_BYTES = 16 * 1024;
const USER_AGENT = "bucky (OCI distribution client)";
const ALTERED_HINT = "Nothing was installed. Do not use this registry's copy of the image.";

export interface Manifest {
  readonly bytes: Uint8Array;
  /** What the registry said the document is. */
  readonly contentType: string | undefined;
}

export class Registry {
  private token: string | undefined;
  private readonly base: string;
  /** Who people are told they talked to. */
  readonly name: string;

  constructor(
    private readonly ref: ImageRef,
    private readonly idleMs = REGISTRY_IDLE_MS,
  ) {
    const host = ref.registry === DOCKER_HUB ? "registry-1.docker.io" : ref.registry;
    this.base = `${isLoopback(host) ? "http" : "https"}://${host}/v2/${ref.repository}`;
    this.name = ref.registry;
  }

  /** The manifest or index `reference` (a tag or a digest) names; not yet checked. */
  async manifest(reference: string): Promise<Manifest> {
    const response = await this.get(`/manifests/${reference}`, { accept: MANIFEST_ACCEPT });
    if (response.status === 404)
      throw new BuckyError(
        "E_NOT_FOUND",
        `${this.name} has no image ${this.ref.repository}:${reference.startsWith("sha256:") ? `@${reference}` : reference}`,
        "Check the name and the tag (or digest) of the image.",
      );
    await this.refuseFailure(response, `the manifest of ${this.ref.repository}`);
    const bytes = await this.read(response, MAX_MANIFEST_BYTES, `the manifest from ${this.name}`);
    return { bytes, contentType: response.headers.get("content-type") ?? undefined };
  }

  /** A small blob (a config) whole, in memory, checked against its digest. */
  async blob(descriptor: Descriptor, what: string): Promise<Uint8Array> {
    const response = await this.blobResponse(descriptor, what);
    const bytes = await bytesWithin(response, descriptor.size, this.blobWords(descriptor, what), {
      idleMs: this.idleMs,
    });
    this.check(descriptor, { digest: sha256Digest(bytes), sizeBytes: bytes.length }, what);
    return bytes;
  }

  /**
   * Stages blob `descriptor` (a layer) in `staging` as it streams, written once, hashed on
   * the way, refused the moment it runs past its size, and checked against its digest at
   * the end: what is returned is that blob, ready to be moved into named data. `written`
   * is told of its bytes as they reach the disk. What a refused blob staged stays in
   * `staging`, which its owner discards.
   */
  async stageBlob(
    descriptor: Descriptor,
    staging: BlobStaging,
    what: string,
    written: (bytes: number) => void,
  ): Promise<StagedBlob> {
    const response = await this.blobResponse(descriptor, what);
    let staged: StagedBlob;
    try {
      staged = await staging.put(
        chunksWithin(response, descriptor.size, this.blobWords(descriptor, what), {
          idleMs: this.idleMs,
        }),
        written,
      );
    } catch (error) {
      throw fileSystemError(error, "write", staging.dir) ?? error;
    }
    this.check(descriptor, staged, what);
    return staged;
  }

  /** The answer carrying blob `descriptor`, refused unless it is one. */
  private async blobResponse(descriptor: Descriptor, what: string): Promise<Response> {
    const response = await this.get(`/blobs/${descriptor.digest}`, {});
    if (response.status === 404)
      throw new BuckyError(
        "E_NOT_FOUND",
        `${this.name} lists ${what} ${descriptor.digest} in ${this.ref.repository} but does not have it`,
        "The image in the registry is incomplete: push it again, or try another tag.",
      );
    await this.refuseFailure(response, `${what} ${descriptor.digest}`);
    return response;
  }

  /** What reading blob `descriptor` throws: past its size, it was altered. */
  private blobWords(descriptor: Descriptor, what: string): BoundedReadWords {
    return {
      ...registryWords(`${what} from ${this.name}`, descriptor.size),
      tooLarge: () =>
        new BuckyError(
          "E_INTEGRITY",
          `${what} ${descriptor.digest} from ${this.name} is larger than its manifest says (${descriptor.size} bytes): it was altered`,
          ALTERED_HINT,
        ),
    };
  }

  /** Refuses a blob that came other than its manifest says: shorter, or other bytes. */
  private check(
    descriptor: Descriptor,
    got: { readonly digest: string; readonly sizeBytes: number },
    what: string,
  ): void {
    if (got.sizeBytes !== descriptor.size || got.digest !== descriptor.digest)
      throw new BuckyError(
        "E_INTEGRITY",
        `${what} ${descriptor.digest} from ${this.name} does not match its digest (got ${got.sizeBytes} bytes hashing to ${got.digest}): it was altered in the registry or on the way`,
        ALTERED_HINT,
      );
  }

  /** A GET on the repository, with the registry's token when it asks for one. */
  private async get(path: string, headers: Record<string, string>): Promise<Response> {
    const url = `${this.base}${path}`;
    let response = await this.follow(url, headers);
    if (response.status === 401) {
      const challenge = response.headers.get("www-authenticate") ?? "";
      await response.body?.cancel();
      this.token = await this.authenticate(challenge);
      response = await this.follow(url, headers);
      if (response.status === 401 || response.status === 403) {
        await response.body?.cancel();
        throw this.refused();
      }
    }
    return response;
  }

  /** Follows redirects by hand: the token goes to the registry's own host only. */
  private async follow(start: string, headers: Record<string, string>): Promise<Response> {
    let url = new URL(start);
    const origin = url.origin;
    for (let hop = 0; hop <= MAX_REDIRECTS; hop++) {
      const response = await this.request(url, {
        ...headers,
        ...(this.token && url.origin === origin ? { authorization: `Bearer ${this.token}` } : {}),
      });
      if (![301, 302, 303, 307, 308].includes(response.status)) return response;
      const location = response.headers.get("location");
      await response.body?.cancel();
      if (!location) break;
      const next = new URL(location, url);
      if (next.protocol !== "https:" && !(next.protocol === "http:" && url.protocol === "http:"))
        throw new BuckyError(
          "E_PERMISSION",
          `${this.name} sent bucky on to ${next.protocol}//${next.host}, which is not HTTPS`,
          "bucky follows a registry only over HTTPS (or plain HTTP on this machine).",
        );
      url = next;
    }
    throw new BuckyError("E_UNAVAILABLE", `${this.name} redirects too many times`);
  }

  private async request(url: URL, headers: Record<string, string>): Promise<Response> {
    // The limit is on the answer's start; a body that stalls is caught as it is read.
    const controller = new AbortController();
    const timer = setTimeout(
      () => controller.abort(new DOMException("no answer", "TimeoutError")),
      this.idleMs,
    );
    try {
      return await fetch(url, {
        headers: { "user-agent": USER_AGENT, ...headers },
        redirect: "manual",
        signal: controller.signal,
      });
    } catch (error) {
      throw new BuckyError(
        "E_UNAVAILABLE",
        `the registry ${this.name} cannot be reached (${url.host}: ${networkProblem(error)})`,
        "Check the image's registry name and this device's network, then try again.",
        { cause: error },
      );
    } finally {
      clearTimeout(timer);
    }
  }

  /** Gets an anonymous token as the registry's challenge says. */
  private async authenticate(challenge: string): Promise<string> {
    const scheme = challenge.split(" ")[0]?.toLowerCase();
    if (scheme === "basic")
      throw new BuckyError(
        "E_PERMISSION",
        `${this.name} asks for a user name and password for ${this.ref.repository}`,
        "bucky installs images anyone may pull; a private image can be saved to a file (`docker save`) and installed from it.",
      );
    const params = bearerParams(challenge);
    if (scheme !== "bearer" || !params.realm)
      throw new BuckyError(
        "E_PERMISSION",
        `${this.name} refused access to ${this.ref.repository} without saying how to get in`,
      );
    let realm: URL;
    try {
      realm = new URL(params.realm);
    } catch {
      throw new BuckyError("E_PERMISSION", `${this.name} named a token service that is not a URL`);
    }
    const registryIsLocal = this.base.startsWith("http:");
    if (realm.protocol !== "https:" && !(registryIsLocal && realm.protocol === "http:"))
      throw new BuckyError(
        "E_PERMISSION",
        `${this.name} asked bucky to get a token over ${realm.protocol}, which is not HTTPS`,
      );
    if (params.service) realm.searchParams.set("service", params.service);
    realm.searchParams.set("scope", params.scope ?? `repository:${this.ref.repository}:pull`);
    const response = await this.request(realm, { accept: "application/json" });
    if (response.status === 401 || response.status === 403) {
      await response.body?.cancel();
      throw this.refused();
    }
    await this.refuseFailure(response, "a token");
    const body = await this.read(response, MAX_TOKEN_BYTES, `the token from ${realm.host}`);
    let token: unknown;
    try {
      const parsed = JSON.parse(new TextDecoder().decode(body)) as Record<string, unknown>;
      token = parsed.token ?? parsed.access_token;
    } catch {
      token = undefined;
    }
    if (typeof token !== "string" || token.length === 0 || /[\r\n]/.test(token))
      throw new BuckyError(
        "E_PERMISSION",
        `${realm.host} gave no token for ${this.ref.repository}`,
      );
    return token;
  }

  /** An answer's body whole, at most `maxBytes`, given up on when it stalls. */
  private read(response: Response, maxBytes: number, what: string): Promise<Uint8Array> {
    return bytesWithin(response, maxBytes, registryWords(what, maxBytes), {
      idleMs: this.idleMs,
    });
  }

  private refused(): BuckyError {
    return new BuckyError(
      "E_PERMISSION",
      `${this.name} refused access to ${this.ref.repository}: it is private, or it does not exist`,
      "Check the image's name; bucky installs images anyone may pull (a private one can be saved to a file with `docker save` and installed from it).",
    );
  }

  /** Throws what an unsuccessful answer means. */
  private async refuseFailure(response: Response, what: string): Promise<void> {
    if (response.ok) return;
    const detail = await this.read(response, MAX_ERROR_BYTES, "an error").then(
      (bytes) => registryMessage(bytes),
      () => "",
    );
    if (response.status === 401 || response.status === 403) throw this.refused();
    if (response.status === 429)
      throw new BuckyError(
        "E_UNAVAILABLE",
        `${this.name} is limiting how fast images are pulled from it`,
        `Try again later${response.headers.get("retry-after") ? ` (it says in ${response.headers.get("retry-after")} s)` : ""}.`,
      );
    throw new BuckyError(
      response.status >= 500 ? "E_UNAVAILABLE" : "E_NOT_FOUND",
      `${this.name} answered HTTP ${response.status} for ${what}${detail ? `: ${detail}` : ""}`,
      response.status >= 500 ? "The registry is having trouble: try again later." : undefined,
    );
  }
}

/** Whether `host` (host or host:port) is this machine: spoken to in plain HTTP. */
export function isLoopback(host: string): boolean {
  const name = host.startsWith("[") ? host.slice(0, host.indexOf("]") + 1) : host.split(":")[0];
  return name === "localhost" || name === "[::1]" || /^127\.\d+\.\d+\.\d+$/.test(name ?? "");
}

/** The parameters of a `Bearer realm="…",service="…",scope="…"` challenge. */
export function bearerParams(challenge: string): Record<string, string> {
  const params: Record<string, string> = {};
  for (const match of challenge.matchAll(/([a-zA-Z]+)="([^"]*)"/g))
    params[(match[1] as string).toLowerCase()] = match[2] as string;
  return params;
}

/** The first message of a registry's error body, short and printable. */
function registryMessage(bytes: Uint8Array): string {
  try {
    const body = JSON.parse(new TextDecoder().decode(bytes)) as {
      errors?: { message?: unknown }[];
    };
    const message = body.errors?.[0]?.message;
    return typeof message === "string" ? message.replace(/[^\x20-\x7e]/g, "?").slice(0, 200) : "";
  } catch {
    return "";
  }
}

/**
 * What reading a registry's answer throws: over its bound, E_INTEGRITY (the registry sent
 * what no honest one would); broken off or silent for the registry's idle time, E_UNAVAILABLE.
 */
function registryWords(what: string, maxBytes: number): BoundedReadWords {
  return {
    tooLarge: (declaredBytes) =>
      new BuckyError(
        "E_INTEGRITY",
        declaredBytes === undefined
          ? `${what} is over ${maxBytes} bytes, its limit`
          : `${what} is ${declaredBytes} bytes; the limit is ${maxBytes}`,
      ),
    brokeOff: (error) =>
      new BuckyError(
        "E_UNAVAILABLE",
        `${what} was cut off (${networkProblem(error)})`,
        "Try again later.",
        { cause: error },
      ),
    stalled: (idleMs) =>
      new BuckyError(
        "E_UNAVAILABLE",
        `${what} stopped coming for ${idleMs / 1000} s`,
        "Try again later.",
      ),
  };
}
