/**
 * A multipart/form-data body read as it arrives, one part after another: a file the panel
 * is sent goes on to the local API a chunk at a time, never held whole. The parts come in
 * the order of the form's fields, so a form puts the fields its file's route needs first.
 */
import { BuckyError } from "../errors.ts";
import { boundedChunks } from "../node/request-body.ts";

/**
 * A form without a file, at most: a page's fields and the odd pasted key. A form with a
 * file takes the file's own bound and this much besides.
 */
export const MAX_FORM_BYTES = 64 * 1024;

/** A part's headers, at most (a browser writes a line or two). */
const MAX_HEADER_BYTES = 8 * 1024;

export interface FormPart {
  readonly name: string;
  /** Set (maybe empty: no file chosen) for a file field. */
  readonly filename: string | undefined;
}

export class FormParts {
  private readonly chunks: AsyncGenerator<Uint8Array>;
  private readonly delimiter: Buffer;
  /** The bytes read and not yet used; the body is read as if it began with a line break. */
  private buffered = Buffer.from("\r\n");
  private state: "start" | "between" | "body" | "done" = "start";

  /** The form `request` sends, at most `maxBytes` of it (E_TOO_LARGE past them). */
  constructor(request: Request, maxBytes: number) {
    const boundary = /^multipart\/form-data;.*\bboundary="?([^";]+)"?/i.exec(
      request.headers.get("content-type") ?? "",
    )?.[1];
    if (!boundary) throw malformed("it is not multipart/form-data");
    this.delimiter = Buffer.from(`\r\n--${boundary}`);
    this.chunks = boundedChunks(request, maxBytes, "a form");
  }

  /** The next part (the rest of the one before is skipped); undefined after the last. */
  async next(): Promise<FormPart | undefined> {
    if (this.state === "body") for await (const _ of this.body());
    if (this.state === "start") {
      for await (const _ of this.untilDelimiter());
    }
    if (this.state === "done") return undefined;
    // After a delimiter: "--" ends the form, a line break starts a part's headers.
    await this.atLeast(2);
    if (this.buffered.subarray(0, 2).toString() === "--") {
      this.state = "done";
      return undefined;
    }
    let end = this.buffered.indexOf("\r\n\r\n");
    while (end < 0) {
      if (this.buffered.length > MAX_HEADER_BYTES) throw malformed("a part's headers are too long");
      if (!(await this.more())) throw malformed("it ends in a part's headers");
      end = this.buffered.indexOf("\r\n\r\n");
    }
    const headers = this.buffered.subarray(2, end).toString();
    this.buffered = this.buffered.subarray(end + 4);
    this.state = "body";
    const disposition = /^content-disposition:(.*)$/im.exec(headers)?.[1] ?? "";
    const name = /\bname="([^"]*)"/i.exec(disposition)?.[1];
    if (name === undefined) throw malformed("a part has no name");
    return { name, filename: /\bfilename="([^"]*)"/i.exec(disposition)?.[1] };
  }

  /** The current part's bytes as they arrive. */
  async *body(): AsyncGenerator<Uint8Array> {
    if (this.state !== "body") return;
    yield* this.untilDelimiter();
  }

  /** The current part's bytes as a stream (a request's body); cancelling it stops them. */
  bodyStream(): ReadableStream<Uint8Array> {
    const chunks = this.body();
    return new ReadableStream<Uint8Array>({
      async pull(controller) {
        const next = await chunks.next();
        if (next.done) controller.close();
        else controller.enqueue(next.value);
      },
      async cancel() {
        await chunks.return(undefined);
      },
    });
  }

  /** The current part as text, at most `maxBytes` of it. */
  async text(maxBytes: number): Promise<string> {
    const pieces: Uint8Array[] = [];
    let sizeBytes = 0;
    for await (const piece of this.body()) {
      sizeBytes += piece.length;
      if (sizeBytes > maxBytes) throw malformed(`a field is over ${maxBytes} bytes`);
      pieces.push(piece);
    }
    return Buffer.concat(pieces).toString();
  }

  /** Stops reading: no more of the request is read. */
  async close(): Promise<void> {
    await this.chunks.return(undefined);
  }

  /** The bytes before the next delimiter, as they come; then reads past it. */
  private async *untilDelimiter(): AsyncGenerator<Uint8Array> {
    // Everything but what could be a delimiter's start is handed on as it comes.
    const keep = this.delimiter.length - 1;
    for (;;) {
      const at = this.buffered.indexOf(this.delimiter);
      if (at >= 0) {
        const piece = this.buffered.subarray(0, at);
        this.buffered = this.buffered.subarray(at + this.delimiter.length);
        this.state = "between";
        if (piece.length > 0) yield piece;
        return;
      }
      if (this.buffered.length > keep) {
        const piece = this.buffered.subarray(0, this.buffered.length - keep);
        this.buffered = this.buffered.subarray(this.buffered.length - keep);
        yield piece;
      }
      if (!(await this.more())) throw malformed("it ends in the middle of a part");
    }
  }

  private async atLeast(n: number): Promise<void> {
    while (this.buffered.length < n)
      if (!(await this.more())) throw malformed("it ends after a boundary");
  }

  private async more(): Promise<boolean> {
    const next = await this.chunks.next();
    if (next.done) return false;
    this.buffered = Buffer.concat([this.buffered, next.value]);
    return true;
  }
}

function malformed(why: string): BuckyError {
  return new BuckyError("E_USAGE", `the form could not be read: ${why}`);
}
