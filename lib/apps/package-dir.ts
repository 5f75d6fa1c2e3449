/**
 * An app directory to a package and back. Packing reads the manifest first and refuses
 * an invalid one with every problem listed, before anything is stored. Unpacking writes a
 * fresh directory beside the target and renames it into place, so a half-unpacked
 * package is never run.
 */
import {
  chmodSync,
  existsSync,
  lstatSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  renameSync,
  rmSync,
  writeFileSync,
} from "node:fs";
import { rm } from "node:fs/promises";
import { dirname, join, relative } from "node:path";
import { type AppManifest, checkManifest, MANIFEST_FILE } from "../../protocol/app-manifest.ts";
import {
  decodePackage,
  encodePackage,
  MAX_PACKAGE_BYTES,
  MAX_PACKAGE_FILES,
  type PackageFile,
  packagePathProblem,
} from "../../protocol/app-package.ts";
import { ProtocolError } from "../../protocol/errors.ts";
import { digestOf } from "../../protocol/ndn.ts";
import { BuckyError, fileSystemError } from "../errors.ts";
import type { FetchLimit } from "../ndn/fetch.ts";
import type { AppSpec } from "./spec.ts";

/** A package is fetched only as large as one can be read (readPackage's bound). */
export const PACKAGE_LIMIT: FetchLimit = { bytes: MAX_PACKAGE_BYTES, what: "an app package" };

/** Directories a package never carries. */
const SKIPPED = new Set([".git", "node_modules"]);

export function readManifest(dir: string): AppManifest {
  return readManifestFile(join(dir, MANIFEST_FILE), dir);
}

/** Reads and checks a manifest file (`dir`, when it is the one of an app's directory). */
export function readManifestFile(path: string, dir?: string): AppManifest {
  let text: string;
  try {
    text = readFileSync(path, "utf8");
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "ENOENT") {
      throw new BuckyError(
        "E_INVALID_INPUT",
        dir ? `${dir} has no ${MANIFEST_FILE}` : `there is no manifest ${path}`,
        `An app directory needs a manifest, ${MANIFEST_FILE}: README's "Apps" section says what it holds.`,
      );
    }
    throw fileSystemError(error, "read", path) ?? error;
  }
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (error) {
    throw new BuckyError("E_INVALID_INPUT", `${path} is not JSON: ${(error as Error).message}`);
  }
  return validManifest(value, path);
}

export function validManifest(value: unknown, where: string): AppManifest {
  const checked = checkManifest(value);
  if (checked.ok) return checked.manifest;
  throw new BuckyError(
    "E_INVALID_INPUT",
    `${where} has ${checked.problems.length} problem${checked.problems.length === 1 ? "" : "s"}:\n  - ${checked.problems.join("\n  - ")}`,
    "Fix them and install again; nothing was installed.",
  );
}

export function packDirectory(dir: string): { manifest: AppManifest; bytes: Uint8Array } {
  const manifest = readManifest(dir);
  const files: PackageFile[] = [];
  let total = 0;
  const walk = (current: string) => {
    for (const name of readdirSync(current).sort()) {
      if (SKIPPED.has(name)) continue;
      const path = join(current, name);
      const stats = lstatSync(path);
      const inPackage = relative(dir, path);
      if (stats.isDirectory()) {
        walk(path);
      } else if (stats.isFile()) {
        const problem = packagePathProblem(inPackage);
        if (problem) throw new BuckyError("E_INVALID_INPUT", `cannot pack ${path}: ${problem}`);
        const bytes = readFileSync(path);
        total += bytes.length;
        if (total > MAX_PACKAGE_BYTES || files.length >= MAX_PACKAGE_FILES) {
          throw new BuckyError(
            "E_INVALID_INPUT",
            `${dir} is too large for an app package (limits: ${MAX_PACKAGE_BYTES} bytes, ${MAX_PACKAGE_FILES} files)`,
          );
        }
        files.push({ path: inPackage, executable: (stats.mode & 0o111) !== 0, bytes });
      } else {
        throw new BuckyError(
          "E_INVALID_INPUT",
          `cannot pack ${path}: only files and directories go into a package (not links or devices)`,
        );
      }
    }
  };
  walk(dir);
  return { manifest, bytes: encodePackage(files) };
}

/** A package's files and its checked manifest. */
export function readPackage(bytes: Uint8Array): { manifest: AppManifest; files: PackageFile[] } {
  let files: PackageFile[];
  try {
    files = decodePackage(bytes);
  } catch (error) {
    if (error instanceof ProtocolError)
      throw new BuckyError("E_INTEGRITY", `the app package is malformed: ${error.message}`);
    throw error;
  }
  const manifestFile = files.find((file) => file.path === MANIFEST_FILE);
  if (!manifestFile) throw new BuckyError("E_INTEGRITY", `the app package has no ${MANIFEST_FILE}`);
  let parsed: unknown;
  try {
    parsed = JSON.parse(new TextDecoder().decode(manifestFile.bytes));
  } catch {
    throw new BuckyError("E_INVALID_INPUT", `the package's ${MANIFEST_FILE} is not JSON`);
  }
  return { manifest: validManifest(parsed, `the package's ${MANIFEST_FILE}`), files };
}

/** Unpacks package bytes into `target` (absent before), returning its manifest. */
export function unpack(bytes: Uint8Array, target: string): AppManifest {
  const { manifest, files } = readPackage(bytes);
  const staging = `${target}.unpacking`;
  rmSync(staging, { recursive: true, force: true });
  for (const file of files) {
    const path = join(staging, file.path);
    mkdirSync(dirname(path), { recursive: true });
    writeFileSync(path, file.bytes, { mode: file.executable ? 0o755 : 0o644 });
  }
  mkdirSync(staging, { recursive: true });
  chmodSync(staging, 0o755);
  if (existsSync(target)) rmSync(target, { recursive: true });
  renameSync(staging, target);
  return manifest;
}

/** What an unpacked package is renamed to when it is being removed. */
const PRUNING = ".pruning-";

/**
 * Removes the unpacked copies of packages no version of an app this device may run uses
 * (each app keeps its current package and the one before); returns how many went. The
 * specs are read again before each one goes, and it is taken out of the way by a rename in
 * that same step (so convergence, finding it gone, unpacks it afresh if a spec wants it
 * back) before its files are removed without holding the event loop.
 */
export async function prunePackages(
  appsDir: string,
  specs: () => readonly AppSpec[],
  /** Whether the daemon is stopping: no more goes once it is. */
  stopping: () => boolean = () => false,
): Promise<number> {
  let removed = 0;
  for (const app of listDir(appsDir)) {
    const packages = join(appsDir, app, "packages");
    // In order, so a run is the same whatever order the directory lists them in.
    for (const name of listDir(packages).sort()) {
      if (stopping()) return removed;
      const path = join(packages, name);
      if (name.startsWith(PRUNING)) {
        // Left by a removal cut short.
        await rm(path, { recursive: true, force: true });
        continue;
      }
      const keep = wantedPackages(specs()).get(app);
      if (!keep || keep.has(name)) continue;
      const pruning = join(packages, `${PRUNING}${name}`);
      try {
        renameSync(path, pruning);
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code === "ENOENT") continue;
        throw error;
      }
      await rm(pruning, { recursive: true, force: true });
      removed++;
    }
  }
  return removed;
}

/** The unpacked packages each app this device may run keeps, by app. */
function wantedPackages(specs: readonly AppSpec[]): Map<string, Set<string>> {
  return new Map(
    specs
      .filter((spec) => spec.desired !== "removed")
      .map((spec) => [
        spec.app,
        new Set([spec.package, spec.previousPackage].flatMap((id) => (id ? [digestOf(id)] : []))),
      ]),
  );
}

function listDir(path: string): string[] {
  try {
    return readdirSync(path);
  } catch {
    return [];
  }
}
