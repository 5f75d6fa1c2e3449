import { afterAll, describe, expect, test } from "bun:test";
import {
  existsSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  readlinkSync,
  rmSync,
  statSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { AppOutput } from "./app-output.ts";

const dir = mkdtempSync(join(tmpdir(), "bucky-app-output-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

let files = 0;
const freshPath = () => join(dir, `app-${++files}.log`);

/** A process running `script` under bun, its stdout and stderr given to `output`. */
function run(output: AppOutput, script: string) {
  const child = Bun.spawn([process.execPath, "-e", script], { stdio: ["ignore", "pipe", "pipe"] });
  output.take(child.stdout);
  output.take(child.stderr);
  return child;
}

/** Where this process's descriptors lead. */
function readlinkAll(): string[] {
  return readdirSync("/proc/self/fd").flatMap((fd) => {
    try {
      return [readlinkSync(`/proc/self/fd/${fd}`)];
    } catch {
      return [];
    }
  });
}

const openDescriptorsTo = (path: string) =>
  readlinkAll().filter((target) => target === path).length;

/**
 * What an app's writes can put beyond the pace: the socket pair Bun gives a subprocess for
 * "pipe" buffers about 208 KiB (net.core.wmem_default here), and one read is in flight.
 */
const HELD_BETWEEN_BYTES = 512 * 1024;

describe("an app's output", () => {
  test("keeps stdout's and stderr's lines whole, and a last line without its newline", async () => {
    const output = new AppOutput(freshPath());
    const child = run(
      output,
      `const { writeSync } = require("node:fs");
       for (let i = 0; i < 300; i++) {
         writeSync(1, "out " + i + " ");
         writeSync(2, "err " + i + " ");
         writeSync(1, "x".repeat(200) + "\\n");
         writeSync(2, "y".repeat(200) + "\\n");
       }
       writeSync(1, "the end");`,
    );
    await child.exited;
    await output.finish(10_000);
    const lines = readFileSync(output.path, "utf8").split("\n");
    expect(lines.pop()).toBe("");
    expect(lines).toContain("the end");
    const out = lines.filter((line) => line.startsWith("out "));
    const err = lines.filter((line) => line.startsWith("err "));
    expect([out.length, err.length, lines.length]).toEqual([300, 300, 601]);
    expect(out.every((line, i) => line === `out ${i} ${"x".repeat(200)}`)).toBe(true);
    expect(err.every((line, i) => line === `err ${i} ${"y".repeat(200)}`)).toBe(true);
  });

  test("a line without end is written as it comes, not held whole", async () => {
    const output = new AppOutput(freshPath());
    // Four megabytes and no newline, then nothing: held until a newline came, the daemon's
    // memory would have been the app's to fill.
    const child = run(
      output,
      `const { writeSync } = require("node:fs");
       const piece = "q".repeat(64 * 1024);
       for (let i = 0; i < 64; i++) writeSync(1, piece);
       setInterval(() => {}, 1000);`,
    );
    try {
      const sizeOf = () => (existsSync(output.path) ? statSync(output.path).size : 0);
      const deadline = performance.now() + 10_000;
      // All but the last piece of a line is written (16 KiB at most is held for its end).
      while (sizeOf() < 4 * 1024 * 1024 - 16 * 1024) {
        if (performance.now() > deadline) throw new Error(`only ${sizeOf()} bytes written`);
        await Bun.sleep(10);
      }
    } finally {
      child.kill("SIGKILL");
    }
    await output.finish(10_000);
    // Byte for byte, but for the newline that ends a last piece held when its stream ended.
    expect(readFileSync(output.path, "utf8").replace(/\n$/, "")).toBe("q".repeat(64 * 64 * 1024));
  });

  test("is kept in two files of its limit at most, however much the app writes", async () => {
    const output = new AppOutput(freshPath(), { maxBytes: 64 * 1024 });
    const child = run(
      output,
      `for (let i = 0; i < 20000; i++) console.log("line " + i + " " + "z".repeat(60));`,
    );
    await child.exited;
    await output.finish(10_000);
    const current = readFileSync(output.path, "utf8");
    const before = readFileSync(`${output.path}.1`, "utf8");
    // Rotated before a write once past the limit: over it by one read of the pipe at most.
    expect(current.length).toBeLessThanOrEqual(64 * 1024 + 80 * 1024);
    expect(before.length).toBeGreaterThanOrEqual(64 * 1024);
    expect(current.trimEnd().split("\n").at(-1)).toBe(`line 19999 ${"z".repeat(60)}`);
    // The older file ends where the newer one starts.
    const lastBefore = Number(before.trimEnd().split("\n").at(-1)?.split(" ")[1]);
    expect(current.split("\n")[0]).toBe(`line ${lastBefore + 1} ${"z".repeat(60)}`);
  });

  test("an earlier run's file past the limit is rotated before this run writes", async () => {
    const path = freshPath();
    writeFileSync(path, "old\n".repeat(20_000));
    const output = new AppOutput(path, { maxBytes: 64 * 1024 });
    const child = run(output, `console.log("new run")`);
    await child.exited;
    await output.finish(10_000);
    expect(readFileSync(path, "utf8")).toBe("new run\n");
    expect(statSync(`${path}.1`).size).toBe(80_000);
  });

  test("an app writing faster than its rate is slowed in its own writes, not read into memory", async () => {
    const rate = 256 * 1024;
    const burst = 128 * 1024;
    const output = new AppOutput(freshPath(), { bytesPerSecond: rate, burstBytes: burst });
    const started = performance.now();
    // It writes as fast as it can for a second, then says how much the pipe took.
    const child = run(
      output,
      `const { writeSync } = require("node:fs");
       const line = "w".repeat(1023) + "\\n";
       let written = 0;
       const start = Date.now();
       while (Date.now() - start < 1000) written += writeSync(1, line);
       writeSync(2, "written " + written + "\\n");`,
    );
    await child.exited;
    const seconds = (performance.now() - started) / 1000;
    await output.finish(10_000);
    const said = readFileSync(output.path, "utf8").match(/^written (\d+)$/m);
    const written = Number(said?.[1]);
    // What it could write: the burst, the rate for as long as it ran, and what lies between
    // it and the daemon. Unpaced, it writes hundreds of megabytes a second.
    expect(written).toBeGreaterThan(0);
    expect(written).toBeLessThanOrEqual(burst + rate * seconds + HELD_BETWEEN_BYTES);
  });

  test("a write that fails is said once and the output still taken, so the app is not stopped", async () => {
    const failures: string[] = [];
    const output = new AppOutput(join(dir, "no-such-dir", "app.log"), {
      failed: (error) => failures.push((error as NodeJS.ErrnoException).code ?? "?"),
    });
    const child = run(output, `for (let i = 0; i < 5000; i++) console.log("line " + i);`);
    expect(await child.exited).toBe(0);
    await output.finish(10_000);
    expect(failures).toEqual(["ENOENT"]);
    expect(existsSync(join(dir, "no-such-dir"))).toBe(false);
  });

  test("finishes once its streams end, or at the limit, letting go of a stream a process keeps open", async () => {
    const output = new AppOutput(freshPath());
    // The app's child outlives it, holding the app's output.
    const child = run(
      output,
      `const { spawn } = require("node:child_process");
       const left = spawn("sleep", ["30"], { stdio: ["ignore", "inherit", "inherit"], detached: true });
       left.unref();
       console.log("left " + left.pid);`,
    );
    await child.exited;
    const started = performance.now();
    await output.finish(300);
    expect(performance.now() - started).toBeGreaterThanOrEqual(250);
    const said = readFileSync(output.path, "utf8");
    const left = Number(said.split(" ")[1]);
    try {
      expect(said).toMatch(/^left \d+\n$/);
      // Let go: the pipe the process still holds leads nowhere now, and the file is closed.
      expect(openDescriptorsTo(output.path)).toBe(0);
      const sockets = readlinkAll().filter((target) => target.startsWith("socket:"));
      const leftHolds = readdirSync(`/proc/${left}/fd`).map((fd) =>
        readlinkSync(`/proc/${left}/fd/${fd}`),
      );
      expect(sockets.filter((socket) => leftHolds.includes(socket))).toEqual([]);
    } finally {
      process.kill(left, "SIGKILL");
    }
  });
});
