/**
 * An app package: the app's directory as one deterministic CBOR object, stored and
 * fetched as named data, so its id names exactly these files and any device can verify
 * what it runs. Paths are sorted and relative, modes are 0644 or 0755, and nothing else
 * about a file (owner, time) is kept.
 *
 *   package = CBOR {v: 1, files: [[path, mode, bytes], ...]}
 */
import { decodeCbor, encodeCbor } from "./cbor.ts";
import { check } from "./errors.ts";
import { requireOnlyFields, requireRecord, requireString } from "./shape.ts";

export const MAX_PACKAGE_BYTES = 256 * 1024 * 1024;
export const MAX_PACKAGE_FILES = 10_000;
const MAX_PATH_LENGTH = 255;

export interface PackageFile {
  readonly path: string;
  readonly executable: boolean;
  readonly bytes: Uint8Array;
}

/** Why `path` cannot be a package path, or undefined when it can. */
export function packagePathProblem(path: string): string | undefined {
  if (path.length === 0 || path.length > MAX_PATH_LENGTH)
    return `a path is 1 to ${MAX_PATH_LENGTH} characters`;
  if (path.startsWith("/")) return "a path is relative";
  for (const segment of path.split("/")) {
    if (segment === "" || segment === "." || segment === "..")
      return `"${path}" has an empty, . or .. segment`;
    if ([...segment].some((ch) => ch.charCodeAt(0) < 0x20 || ch.charCodeAt(0) === 0x7f)) {
      return `"${path}" has a control character`;
    }
  }
  return undefined;
}

export function encodePackage(files: readonly PackageFile[]): Uint8Array {
  const sorted = [...files].sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
  for (let i = 1; i < sorted.length; i++)
    check(sorted[i - 1]?.path !== sorted[i]?.path, "a package has each path once");
  return encodeCbor({
    v: 1,
    files: sorted.map((file) => [file.path, file.executable ? 0o755 : 0o644, file.bytes]),
  });
}

/** Decodes a package, checking every path and limit. Throws ProtocolError otherwise. */
export function decodePackage(bytes: Uint8Array): PackageFile[] {
  const value = requireRecord(decodeCbor(bytes, MAX_PACKAGE_BYTES, "app package"), "app package");
  requireOnlyFields(value, ["v", "files"], "app package");
  check(value.v === 1, "app package version is not 1");
  check(
    Array.isArray(value.files) && value.files.length <= MAX_PACKAGE_FILES,
    `an app package has at most ${MAX_PACKAGE_FILES} files`,
  );
  let previous: string | undefined;
  const files = value.files.map((entry, i) => {
    check(
      Array.isArray(entry) && entry.length === 3,
      `package entry ${i} is a [path, mode, bytes] triple`,
    );
    const path = requireString(entry[0], `package entry ${i} path`, MAX_PATH_LENGTH);
    const problem = packagePathProblem(path);
    check(problem === undefined, `package entry ${i}: ${problem}`);
    // Sorted and unique, so one set of files has one encoding (and one id).
    check(previous === undefined || previous < path, `package paths are not in order at ${path}`);
    previous = path;
    check(
      entry[1] === 0o644 || entry[1] === 0o755,
      `package entry ${path} has mode other than 0644 or 0755`,
    );
    check(entry[2] instanceof Uint8Array, `package entry ${path} has no bytes`);
    return { path, executable: entry[1] === 0o755, bytes: entry[2] as Uint8Array };
  });
  // A file cannot also be a directory: "a" beside "a/b" could not be unpacked.
  const paths = new Set(files.map((file) => file.path));
  for (const { path } of files) {
    const segments = path.split("/");
    for (let end = 1; end < segments.length; end++) {
      check(
        !paths.has(segments.slice(0, end).join("/")),
        `package has ${path} under the file ${segments.slice(0, end).join("/")}`,
      );
    }
  }
  return files;
}
