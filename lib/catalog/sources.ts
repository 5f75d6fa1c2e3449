/**
 * Where a catalog comes from: an http(s) address or a directory (a catalog unpacked from
 * a file). Either way it is laid out the same, as `bucky store publish` writes it:
 *
 *   catalog.jws        the signed index
 *   ndn/<object id>    each object it names (a chunk, or a chunk list's own bytes)
 *
 * so any static web server can serve one. Nothing read from a source is trusted: the
 * index is verified against its publisher, each object against its id (lib/ndn/fetch.ts).
 */
import {
  closeSync,
  constants,
  existsSync,
  fstatSync,
  openSync,
  readFileSync,
  statSync,
} from "node:fs";
import { isAbsolute, join } from "node:path";
import { MAX_CATALOG_LENGTH } from "../../protocol/catalog.ts";
import { CHUNK_BYTES, type ObjectId } from "../../protocol/ndn.ts";
import { BuckyError } from "../errors.ts";
import type { ObjectSource } from "../ndn/fetch.ts";
import { bytesWithin } from "../node/bounded-read.ts";
import { networkProblem } from "../node/network-errors.ts";

export const INDEX_FILE = "catalog.jws";
export const OBJECTS_DIR = "ndn";
const FETCH_TIMEOUT_MS = 30_000;
/** An object a source sends, at most: a chunk, or a chunk list of a large package. */
export const MAX_OBJECT_BYTES = CHUNK_BYTES + 64 * 1024;

export type CatalogSource =
  | { readonly kind: "url"; readonly url: string }
  | { readonly kind: "dir"; readonly dir: string };

/** A source as a person names it: an http(s) address, or a directory's absolute path. */
export function parseCatalogSource(text: string): CatalogSource {
  const trimmed = text.trim();
  if (/^https?:\/\//i.test(trimmed)) {
    if (!URL.canParse(trimmed))
      throw new BuckyError("E_INVALID_INPUT", `${trimmed} is not a web address`);
    return { kind: "url", url: trimmed };
  }
  if (/^[a-z][a-z0-9+.-]*:/i.test(trimmed))
    throw new BuckyError(
      "E_INVALID_INPUT",
      `${trimmed}: a catalog comes from an http:// or https:// address, or a directory`,
    );
  if (!isAbsolute(trimmed) || !existsSync(trimmed) || !statSync(trimmed).isDirectory())
    throw new BuckyError(
      "E_INVALID_INPUT",
      `${trimmed} is not a directory holding a catalog`,
      `Name the directory \`bucky store publish\` wrote (it holds ${INDEX_FILE}).`,
    );
  return { kind: "dir", dir: trimmed };
}

/** The catalog's signed index, as its source holds it (not yet verified). */
export async function readIndex(source: CatalogSource): Promise<string> {
  if (source.kind === "dir") {
    const file = join(source.dir, INDEX_FILE);
    const bytes = readPlainFile(file, MAX_CATALOG_LENGTH, INDEX_FILE);
    if (!bytes) throw new BuckyError("E_INVALID_INPUT", `${source.dir} holds no ${INDEX_FILE}`);
    return text(bytes, file);
  }
  const bytes = await fetchBytes(new URL(INDEX_FILE, baseOf(source.url)), MAX_CATALOG_LENGTH);
  if (!bytes)
    throw new BuckyError(
      "E_NOT_FOUND",
      `${source.url} has no catalog: ${INDEX_FILE} is not there`,
      "Check the address the publisher gave.",
    );
  return text(bytes, source.url);
}

/** The objects a catalog's source holds, as a source for lib/ndn/fetch.ts. */
export function objectsAt(source: CatalogSource): ObjectSource {
  if (source.kind === "dir") {
    return {
      name: source.dir,
      async fetch(id: ObjectId) {
        return readPlainFile(join(source.dir, OBJECTS_DIR, id), MAX_OBJECT_BYTES, id);
      },
    };
  }
  const base = baseOf(source.url);
  return {
    name: new URL(base).host,
    fetch: (id: ObjectId) => fetchBytes(new URL(`${OBJECTS_DIR}/${id}`, base), MAX_OBJECT_BYTES),
  };
}

/**
 * A file of a catalog's directory, if it is there: a plain file of at most `maxBytes`,
 * never a link, a FIFO (a synchronous read of one would hold the whole daemon until
 * someone writes to it) or a device (/dev/zero has no end). The directory may be a file
 * its publisher made, unpacked: tar makes all of these.
 */
function readPlainFile(path: string, maxBytes: number, what: string): Uint8Array | undefined {
  let fd: number;
  try {
    fd = openSync(path, constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === "ENOENT") return undefined;
    if (code === "ELOOP") throw notPlain(what);
    throw error;
  }
  try {
    const stat = fstatSync(fd);
    if (!stat.isFile()) throw notPlain(what);
    if (stat.size > maxBytes)
      throw new BuckyError(
        "E_INVALID_INPUT",
        `the catalog's ${what} is larger than ${maxBytes} bytes`,
      );
    return new Uint8Array(readFileSync(fd));
  } finally {
    closeSync(fd);
  }
}

function notPlain(what: string): BuckyError {
  return new BuckyError("E_INVALID_INPUT", `the catalog's ${what} is not a plain file`);
}

/** The address a catalog's files are under: the URL itself, or the folder of a .jws. */
function baseOf(url: string): string {
  const parsed = new URL(url);
  if (parsed.pathname.endsWith(`/${INDEX_FILE}`))
    parsed.pathname = parsed.pathname.slice(0, -INDEX_FILE.length);
  else if (!parsed.pathname.endsWith("/")) parsed.pathname = `${parsed.pathname}/`;
  parsed.search = "";
  parsed.hash = "";
  return parsed.href;
}

/** The body at `url` (at most `maxBytes`); undefined when the server has nothing there. */
async function fetchBytes(url: URL, maxBytes: number): Promise<Uint8Array | undefined> {
  let response: Response;
  try {
    response = await fetch(url, {
      signal: AbortSignal.timeout(FETCH_TIMEOUT_MS),
      headers: { accept: "*/*" },
    });
  } catch (error) {
    throw new BuckyError(
      "E_UNAVAILABLE",
      `cannot reach ${url.host}: ${networkProblem(error)}`,
      "Check the address and this device's connection, then try again.",
      { cause: error },
    );
  }
  // An answer not read is let go at once: its connection is not held open until it ends.
  const refused = () => void response.body?.cancel().catch(() => {});
  if (response.status === 404 || response.status === 410) {
    refused();
    return undefined;
  }
  if (!response.ok) {
    refused();
    throw new BuckyError(
      "E_UNAVAILABLE",
      `${url.host} answered HTTP ${response.status} for ${url.pathname}`,
    );
  }
  // Read as it arrives, within its bound (lib/node/bounded-read.ts): one that breaks off or
  // runs past the time is unavailable, in bucky's words (the runtime's own error would be
  // taken for a bug of the daemon's and crash it).
  return bytesWithin(response, maxBytes, {
    tooLarge: () =>
      new BuckyError("E_INVALID_INPUT", `${url.href} is larger than ${maxBytes} bytes`),
    brokeOff: (error) =>
      new BuckyError(
        "E_UNAVAILABLE",
        `${url.host} broke off ${url.pathname} (${networkProblem(error)})`,
        "Check the address and this device's connection, then try again.",
        { cause: error },
      ),
  });
}

function text(bytes: Uint8Array, where: string): string {
  try {
    return new TextDecoder("utf-8", { fatal: true }).decode(bytes).trim();
  } catch {
    throw new BuckyError("E_INTEGRITY", `${where} is not a catalog: it is not text`);
  }
}
