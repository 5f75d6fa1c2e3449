/**
 * Container image references, as Docker and Podman read them:
 *
 *   [registry/]repository[:tag][@sha256:<64 hex>]
 *
 * The first component is a registry when it has a dot or a port, or is `localhost`;
 * otherwise the image is on Docker Hub (`docker.io`), where a one-component name is under
 * `library/`. A reference without a digest names whatever its tag points at today; bucky
 * resolves it once, at install, and keeps the digest.
 */

export interface ImageRef {
  /** host or host:port; `docker.io` for Docker Hub. */
  readonly registry: string;
  /** The repository path, like `library/nginx` or `team/photos`. */
  readonly repository: string;
  readonly tag?: string;
  /** `sha256:<64 hex>`. */
  readonly digest?: string;
}

export type ImageRefCheck = { ok: true; ref: ImageRef } | { ok: false; reason: string };

export const DOCKER_HUB = "docker.io";
export const MAX_REF_LENGTH = 512;
const COMPONENT = /^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*$/;
const TAG = /^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$/;
const HOST =
  /^(?:[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?)(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?)*(?::[0-9]{1,5})?$/;
const IPV6_HOST = /^\[[0-9A-Fa-f:.]+\](?::[0-9]{1,5})?$/;
export const DIGEST = /^sha256:[0-9a-f]{64}$/;

export function parseImageRef(text: string): ImageRefCheck {
  if (text.length === 0) return { ok: false, reason: "it is empty" };
  if (text.length > MAX_REF_LENGTH)
    return { ok: false, reason: `it is longer than ${MAX_REF_LENGTH} characters` };
  if (/[\s\p{Cc}]/u.test(text)) return { ok: false, reason: "it has spaces or control characters" };
  let rest = text;
  let digest: string | undefined;
  const at = rest.indexOf("@");
  if (at >= 0) {
    digest = rest.slice(at + 1);
    rest = rest.slice(0, at);
    if (!DIGEST.test(digest))
      return { ok: false, reason: `its digest must be sha256: and 64 lowercase hex digits` };
  }
  const slash = rest.indexOf("/");
  const first = slash >= 0 ? rest.slice(0, slash) : "";
  const isRegistry =
    slash >= 0 &&
    (first.includes(".") || first.includes(":") || first === "localhost" || first.startsWith("["));
  let registry = DOCKER_HUB;
  if (isRegistry) {
    if (!HOST.test(first) && !IPV6_HOST.test(first))
      return { ok: false, reason: `"${first}" is not a registry host` };
    registry = first === "index.docker.io" ? DOCKER_HUB : first;
    rest = rest.slice(slash + 1);
  }
  let tag: string | undefined;
  const colon = rest.lastIndexOf(":");
  if (colon >= 0) {
    tag = rest.slice(colon + 1);
    rest = rest.slice(0, colon);
    if (!TAG.test(tag))
      return { ok: false, reason: `"${tag}" is not a tag (letters, digits, _ . -, up to 128)` };
  }
  const components = rest.split("/");
  for (const component of components)
    if (!COMPONENT.test(component))
      return {
        ok: false,
        reason: `"${component}" is not a repository name part (lowercase letters, digits and . _ -)`,
      };
  const repository = registry === DOCKER_HUB && components.length === 1 ? `library/${rest}` : rest;
  return {
    ok: true,
    ref: { registry, repository, ...(tag ? { tag } : {}), ...(digest ? { digest } : {}) },
  };
}

/** The reference written out in full: `registry/repository[:tag][@digest]`. */
export function formatImageRef(ref: ImageRef): string {
  return `${ref.registry}/${ref.repository}${ref.tag ? `:${ref.tag}` : ""}${ref.digest ? `@${ref.digest}` : ""}`;
}

/** The reference pinned to `digest`, keeping its tag for people to read. */
export function pinImageRef(ref: ImageRef, digest: string): ImageRef {
  return { ...ref, digest };
}
