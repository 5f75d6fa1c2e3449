/**
 * `GET /ndn/<id>`: named data over plain HTTP(S), with `cyfs-obj-id` and `cyfs-obj-size`
 * headers and byte ranges, so curl can download a file by id and resume it. A chunk list
 * serves the whole file it describes; `?object` serves the list object itself, which is
 * what a verifying client fetches first. Nothing is verified here: the id lets the
 * receiver check every byte.
 */
import { Hono } from "hono";
import type { ChunkId, ChunkList } from "../../protocol/ndn.ts";
import { BuckyError } from "../errors.ts";
import { requireObjectId } from "./object-id.ts";
import type { ObjectStore } from "./store.ts";

export function ndnRoutes(store: ObjectStore): Hono {
  const app = new Hono();
  app.get("/:id", (c) => ndnResponse(store, c.req.param("id"), c.req.raw));
  return app;
}

/** The response to `GET /ndn/<id>` from what `store` holds. */
export function ndnResponse(store: ObjectStore, id: string, request: Request): Response {
  const parsed = requireObjectId(id);
  const headers = { "cyfs-obj-id": id, "accept-ranges": "bytes" };
  if (parsed.kind === "list" && new URL(request.url).searchParams.has("object")) {
    const bytes = store.listBytes(parsed.id);
    if (!bytes) throw notHere(id);
    return new Response(bytes, {
      headers: {
        ...headers,
        "content-type": "application/cbor",
        "cyfs-obj-size": String(bytes.length),
      },
    });
  }
  const size =
    parsed.kind === "chunk" ? store.chunkSize(parsed.id) : store.readList(parsed.id)?.size;
  if (size === undefined) throw notHere(id);
  const range = parseRange(request.headers.get("range") ?? undefined, size);
  if (range === "unsatisfiable") {
    return new Response(null, {
      status: 416,
      headers: { ...headers, "content-range": `bytes */${size}` },
    });
  }
  const [start, end] = range ?? [0, size];
  const body =
    parsed.kind === "chunk"
      ? Bun.file(store.chunkPath(parsed.id)).slice(start, end)
      : listStream(store, store.readList(parsed.id) as ChunkList, start, end);
  return new Response(body, {
    status: range ? 206 : 200,
    headers: {
      ...headers,
      "cyfs-obj-size": String(size),
      "content-type": "application/octet-stream",
      "content-length": String(end - start),
      ...(range ? { "content-range": `bytes ${start}-${end - 1}/${size}` } : {}),
    },
  });
}

/** The bytes [start, end) of the file a chunk list describes, chunk file by chunk file. */
function listStream(
  store: ObjectStore,
  list: ChunkList,
  start: number,
  end: number,
): ReadableStream<Uint8Array> {
  let index = Math.floor(start / list.chunkSize);
  return new ReadableStream({
    async pull(controller) {
      const chunkStart = index * list.chunkSize;
      if (index >= list.chunks.length || chunkStart >= end) {
        controller.close();
        return;
      }
      const from = Math.max(start - chunkStart, 0);
      const to = Math.min(end - chunkStart, list.chunkSize);
      const file = Bun.file(store.chunkPath(list.chunks[index] as ChunkId));
      controller.enqueue(new Uint8Array(await file.slice(from, to).arrayBuffer()));
      index++;
    },
  });
}

/** A single `bytes=a-b`, `bytes=a-` or `bytes=-n` range as [start, end), if asked for. */
function parseRange(
  header: string | undefined,
  size: number,
): [number, number] | "unsatisfiable" | undefined {
  const match = header ? /^bytes=(\d*)-(\d*)$/.exec(header.trim()) : null;
  if (!match || (match[1] === "" && match[2] === "")) return undefined;
  const [first, last] = [match[1] as string, match[2] as string];
  const start = first === "" ? Math.max(size - Number(last), 0) : Number(first);
  const end = first === "" || last === "" ? size : Math.min(Number(last) + 1, size);
  return start < end && start < size ? [start, end] : "unsatisfiable";
}

function notHere(id: string): BuckyError {
  return new BuckyError("E_NOT_FOUND", `${id} is not on this device`);
}
