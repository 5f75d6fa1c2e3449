/**
 * An app's output: what its processes write to stdout and stderr reaches the daemon through
 * pipes, and the daemon writes it to the app's log file (`<home>/apps/<app>/app.log`).
 *
 * The daemon, not the app, holds the file, so the app cannot make it grow without bound:
 * - past APP_LOG_MAX_BYTES it is renamed to `app.log.1` and a new one started, so at most
 *   two files of that size are kept whatever the app writes;
 * - the pipes are read at OUTPUT_BYTES_PER_SECOND at most (after a burst of
 *   OUTPUT_BURST_BYTES). An app that writes faster waits in its own write() until its
 *   output is taken: it slows itself, never the daemon nor the disk.
 * Each stream's output is written a line at a time, so stdout and stderr written at once
 * do not cut into each other's lines. One AppOutput serves every run of an app, so one
 * writer alone rotates its file.
 */
import { closeSync, fstatSync, openSync, renameSync, statSync, writeSync } from "node:fs";
import { concatBytes } from "../../protocol/encoding.ts";

/** A log file past this is rotated: two files of it at most are kept. */
export const APP_LOG_MAX_BYTES = 5 * 1024 * 1024;
/** How fast an app's output is taken, once its burst is spent. */
export const OUTPUT_BYTES_PER_SECOND = 1024 * 1024;
/** How much an app may write at once before its rate counts. */
export const OUTPUT_BURST_BYTES = 4 * 1024 * 1024;
/** A line longer than this is written in pieces rather than held whole. */
const LONGEST_LINE = 16 * 1024;
const NEWLINE = 0x0a;

/** A stream being drained: its end, and how to stop reading it. */
interface Draining {
  readonly drained: Promise<void>;
  cancel(): Promise<void>;
}

export interface AppOutputOptions {
  readonly maxBytes?: number;
  readonly bytesPerSecond?: number;
  readonly burstBytes?: number;
  /**
   * Told when output could not be written (a full disk): that output is lost, not retried.
   * Told once, until a write succeeds again.
   */
  readonly failed?: (error: Error) => void;
}

/** Where an app's runs write: give it each stream of their processes (`take`). */
export class AppOutput {
  private fd: number | undefined;
  private size = 0;
  private allowance: number;
  private lastRefill = performance.now();
  private readonly maxBytes: number;
  private readonly bytesPerSecond: number;
  private readonly burstBytes: number;
  /** The streams being drained, each with its end. */
  private readonly draining = new Set<Draining>();
  private failing = false;

  constructor(
    readonly path: string,
    private readonly options: AppOutputOptions = {},
  ) {
    this.maxBytes = options.maxBytes ?? APP_LOG_MAX_BYTES;
    this.bytesPerSecond = options.bytesPerSecond ?? OUTPUT_BYTES_PER_SECOND;
    this.burstBytes = options.burstBytes ?? OUTPUT_BURST_BYTES;
    this.allowance = this.burstBytes;
  }

  /** Drains `stream` (a process's stdout or stderr, spawned with "pipe") into the file. */
  take(stream: ReadableStream<Uint8Array> | number | undefined): void {
    if (!(stream instanceof ReadableStream)) return;
    const reader = stream.getReader();
    const entry: Draining = {
      drained: this.drain(reader).finally(() => {
        this.draining.delete(entry);
        if (this.draining.size === 0) this.close();
      }),
      cancel: () => reader.cancel(),
    };
    this.draining.add(entry);
  }

  /**
   * Once a run has ended: waits until every stream taken has ended and its output is in the
   * file, `limitMs` at most, then stops reading those that have not. A process the app left
   * behind (outside a sandbox, nothing ends it with the app) would otherwise hold its
   * output, and the daemon a pipe and the file, for as long as it lives.
   */
  async finish(limitMs: number): Promise<void> {
    let timer: ReturnType<typeof setTimeout> | undefined;
    await Promise.race([
      Promise.all([...this.draining].map((entry) => entry.drained)),
      new Promise<void>((resolve) => {
        timer = setTimeout(resolve, limitMs);
      }),
    ]);
    clearTimeout(timer);
    const left = [...this.draining];
    for (const entry of left) await entry.cancel().catch(() => {});
    await Promise.all(left.map((entry) => entry.drained));
  }

  private async drain(reader: {
    read(): Promise<{ done: boolean; value?: Uint8Array }>;
  }): Promise<void> {
    let partial: Uint8Array | undefined;
    try {
      for (;;) {
        const { done, value } = await reader.read();
        if (done || !value) break;
        let bytes = partial ? concatBytes(partial, value) : value;
        partial = undefined;
        const end = bytes.lastIndexOf(NEWLINE) + 1;
        if (end < bytes.length && bytes.length - end <= LONGEST_LINE) {
          partial = bytes.slice(end);
          bytes = bytes.subarray(0, end);
        }
        if (bytes.length > 0) this.write(bytes);
        await this.pace(value.length);
      }
    } catch {
      // The stream failed (its process was killed mid-read): what was read is written below.
    } finally {
      if (partial) this.write(concatBytes(partial, Uint8Array.of(NEWLINE)));
    }
  }

  /** Waits, once this output's allowance is spent, until the rate has earned it back. */
  private async pace(bytes: number): Promise<void> {
    const now = performance.now();
    this.allowance = Math.min(
      this.burstBytes,
      this.allowance + ((now - this.lastRefill) / 1000) * this.bytesPerSecond,
    );
    this.lastRefill = now;
    this.allowance -= bytes;
    if (this.allowance < 0) await Bun.sleep((-this.allowance / this.bytesPerSecond) * 1000);
  }

  private write(bytes: Uint8Array): void {
    try {
      // Past the limit the file is closed, to be rotated as it is opened again.
      if (this.size >= this.maxBytes) this.close();
      if (this.fd === undefined) this.openFile();
      this.size += writeSync(this.fd as number, bytes);
      this.failing = false;
    } catch (error) {
      if (this.failing) return;
      this.failing = true;
      try {
        this.options.failed?.(error as Error);
      } catch {
        // Whoever was told failed in turn: the app's output is still taken, or it would stop.
      }
    }
  }

  /** Opens the file for appending; one past the limit (this run's, or an earlier run's) is rotated first. */
  private openFile(): void {
    if (sizeOf(this.path) >= this.maxBytes) renameSync(this.path, `${this.path}.1`);
    this.fd = openSync(this.path, "a", 0o600);
    this.size = fstatSync(this.fd).size;
  }

  private close(): void {
    if (this.fd === undefined) return;
    closeSync(this.fd);
    this.fd = undefined;
  }
}

function sizeOf(path: string): number {
  try {
    return statSync(path).size;
  } catch {
    return 0;
  }
}
