/**
 * `bucky app import <docker-compose.yml>`: a compose file of one service, as app stores
 * publish them, made into a bucky manifest (protocol/compose.ts) and written as
 * `bucky-app.json` in a directory of its own, beside what could not be carried over.
 */
import { existsSync, mkdirSync, readFileSync, statSync } from "node:fs";
import { join, resolve } from "node:path";
import { MANIFEST_FILE } from "../../protocol/app-manifest.ts";
import { composeToManifest } from "../../protocol/compose.ts";
import { validManifest } from "../apps/package-dir.ts";
import { writeFileAtomic } from "../atomic-file.ts";
import { BuckyError, fileSystemError } from "../errors.ts";

const MAX_COMPOSE_BYTES = 1024 * 1024;

export interface ImportedCompose {
  readonly app: string;
  /** The manifest written, as its file says it. */
  readonly manifest: Record<string, unknown>;
  /** The directory holding it. */
  readonly dir: string;
  /** What was not carried over, each with why. */
  readonly dropped: readonly string[];
}

export function importCompose(options: {
  readonly file: string;
  /** Where to write the app's directory (default: a directory named after the app, here). */
  readonly outDir?: string;
  readonly id?: string;
  /** The directory a relative outDir or the default one is in. */
  readonly cwd: string;
}): ImportedCompose {
  const size = statSync(options.file, { throwIfNoEntry: false });
  if (!size?.isFile())
    throw new BuckyError(
      "E_NOT_FOUND",
      `there is no file ${options.file}`,
      "Name a docker-compose.yml.",
    );
  if (size.size > MAX_COMPOSE_BYTES)
    throw new BuckyError(
      "E_INVALID_INPUT",
      `${options.file} is larger than a compose file (1 MiB)`,
    );
  let parsed: unknown;
  try {
    parsed = Bun.YAML.parse(readFileSync(options.file, "utf8"));
  } catch (error) {
    throw new BuckyError(
      "E_INVALID_INPUT",
      `${options.file} is not YAML: ${(error as Error).message.split("\n")[0]}`,
    );
  }
  const converted = composeToManifest(parsed, {
    file: options.file,
    ...(options.id ? { id: options.id } : {}),
  });
  if (!converted.ok)
    throw new BuckyError(
      "E_INVALID_INPUT",
      `${options.file} cannot be imported: ${converted.reason}`,
      converted.hint ??
        "`bucky app import` takes a compose file of one service that names its image (docker-compose.yml).",
    );
  const manifest = validManifest(converted.manifest, `the manifest made from ${options.file}`);
  const dir = resolve(options.cwd, options.outDir ?? manifest.id);
  const path = join(dir, MANIFEST_FILE);
  if (existsSync(path))
    throw new BuckyError(
      "E_EXISTS",
      `${path} already exists; nothing was written`,
      "Choose another directory with --out, or remove it first.",
    );
  try {
    mkdirSync(dir, { recursive: true });
    writeFileAtomic(path, `${JSON.stringify(converted.manifest, null, 2)}\n`, 0o644);
  } catch (error) {
    throw fileSystemError(error, "write", path) ?? error;
  }
  return { app: manifest.id, manifest: converted.manifest, dir, dropped: converted.dropped };
}
