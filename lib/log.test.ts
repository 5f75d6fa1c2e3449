import { describe, expect, test } from "bun:test";
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createLog } from "./log.ts";

function capture(level: Parameters<typeof createLog>[0]["level"]) {
  const lines: string[] = [];
  const log = createLog({ level, write: (line) => lines.push(line) });
  return { log, lines };
}

describe("log", () => {
  test("writes one line per call with key=value fields, quoting values with spaces", () => {
    const { log, lines } = capture("info");
    log.info("zone created", { zone: "zabc", name: "my home", skipped: undefined });
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(
      /^\d\d:\d\d:\d\d\.\d{3} INFO {2}zone created zone=zabc name="my home"\n$/,
    );
  });

  test("drops lines below the console level", () => {
    const { log, lines } = capture("warn");
    log.debug("noise");
    log.info("change");
    log.warn("careful");
    log.error("fault");
    expect(lines.map((line) => line.split(" ")[1])).toEqual(["WARN", "ERROR"]);
  });

  test("silent writes nothing to the console", () => {
    const { log, lines } = capture("silent");
    log.fatal("gone");
    expect(lines).toEqual([]);
  });

  test("an attached file gets JSON lines at info and above, whatever the console level", () => {
    const dir = mkdtempSync(join(tmpdir(), "bucky-log-"));
    try {
      const { log } = capture("silent");
      log.attachFile(join(dir, "logs"));
      log.debug("not recorded");
      log.info("zone created", { zone: "zabc" });
      log.flush();
      const lines = readFileSync(join(dir, "logs", "bucky.log"), "utf8")
        .trim()
        .split("\n")
        .map((line) => JSON.parse(line));
      expect(lines).toEqual([
        { time: expect.any(String), level: "info", msg: "zone created", zone: "zabc" },
      ]);
    } finally {
      rmSync(dir, { recursive: true });
    }
  });

  test("a file attached after lines were logged gets the lines that follow", () => {
    const dir = mkdtempSync(join(tmpdir(), "bucky-log-"));
    try {
      const { log, lines: consoleLines } = capture("info");
      log.info("before");
      log.attachFile(join(dir, "logs"));
      log.info("after");
      log.flush();
      const lines = readFileSync(join(dir, "logs", "bucky.log"), "utf8")
        .trim()
        .split("\n")
        .map((line) => JSON.parse(line).msg);
      expect(lines).toEqual(["after"]);
      expect(consoleLines.length).toBe(2);
    } finally {
      rmSync(dir, { recursive: true });
    }
  });

  test("a log whose directory was removed (its home deleted) goes on without its file", () => {
    const dir = mkdtempSync(join(tmpdir(), "bucky-log-"));
    const { log, lines } = capture("info");
    log.attachFile(join(dir, "logs"));
    log.info("waits to be written");
    rmSync(dir, { recursive: true });
    // Written now, urgent, with the batch before it: no file to write to, and no throw.
    log.warn("said anyway");
    log.flush();
    expect(lines).toEqual([
      expect.stringContaining("INFO  waits to be written"),
      expect.stringContaining("WARN  said anyway"),
    ]);
    expect(existsSync(dir)).toBe(false);
  });

  test("the file rolls over and keeps three old files", () => {
    const dir = mkdtempSync(join(tmpdir(), "bucky-log-"));
    try {
      const { log } = capture("silent");
      log.attachFile(dir);
      const big = "x".repeat(1024 * 1024);
      for (let i = 0; i < 50; i++) log.info("filler", { big });
      expect(readdirSync(dir).sort()).toEqual([
        "bucky.log",
        "bucky.log.1",
        "bucky.log.2",
        "bucky.log.3",
      ]);
      for (const file of readdirSync(dir)) {
        expect(Bun.file(join(dir, file)).size).toBeLessThanOrEqual(10 * 1024 * 1024);
      }
    } finally {
      rmSync(dir, { recursive: true });
    }
  });
});

describe("log lines in the file", () => {
  test("carry every field as JSON, escaped, with the time, level and message first", () => {
    const dir = mkdtempSync(join(tmpdir(), "bucky-log-"));
    try {
      const { log } = capture("silent");
      log.attachFile(dir);
      log.info('a "quoted"\nmessage', { path: '/a"b\\c', n: 3, ok: true, gone: undefined });
      log.warn("bare");
      log.info("shadowing", { msg: "the field's" });
      log.flush();
      const lines = readFileSync(join(dir, "bucky.log"), "utf8").trim().split("\n");
      expect(lines.map((line) => JSON.parse(line))).toEqual([
        {
          time: expect.any(String),
          level: "info",
          msg: 'a "quoted"\nmessage',
          path: '/a"b\\c',
          n: 3,
          ok: true,
        },
        { time: expect.any(String), level: "warn", msg: "bare" },
        { time: expect.any(String), level: "info", msg: "the field's" },
      ]);
      const time = JSON.parse(lines[0] as string).time as string;
      expect(new Date(time).toISOString()).toBe(time);
    } finally {
      rmSync(dir, { recursive: true });
    }
  });
});

describe("a log out of file descriptors", () => {
  // In a process of its own: it takes every descriptor it may have.
  const run = (script: string) => {
    const dir = mkdtempSync(join(tmpdir(), "bucky-log-"));
    const file = join(dir, "run.ts");
    writeFileSync(
      file,
      `import { closeSync, openSync } from "node:fs";
import { createLog } from ${JSON.stringify(join(import.meta.dir, "log.ts"))};
const log = createLog({ level: "silent" });
log.attachFile(${JSON.stringify(join(dir, "logs"))});
const taken = [];
const takeAll = () => {
  for (;;) {
    try { taken.push(openSync("/dev/null", "r")); } catch (error) {
      if (error.code !== "EMFILE") throw error;
      return;
    }
  }
};
const freeAll = () => { for (const fd of taken.splice(0)) closeSync(fd); };
${script}
`,
    );
    const child = Bun.spawnSync([process.execPath, file], { stderr: "pipe" });
    const logged = readFileSync(join(dir, "logs", "bucky.log"), "utf8");
    rmSync(dir, { recursive: true });
    // Out of descriptors, and the process went on to its end as ever.
    expect([child.exitCode, child.stderr.toString()]).toEqual([0, ""]);
    return logged
      .trim()
      .split("\n")
      .map((line) => JSON.parse(line));
  };

  test("keeps its lines, without ending the process, until a descriptor is free", () => {
    const lines = run(`
log.info("before");
log.flush();
takeAll();
log.warn("while none is free");
log.flush();
freeAll();
log.info("after");
log.flush();
`);
    expect(lines.map((line) => line.msg)).toEqual(["before", "while none is free", "after"]);
  });

  test("past what it holds, keeps the first lines, counts those it dropped and writes that count", () => {
    const lines = run(`
takeAll();
const long = "x".repeat(1000);
for (let i = 0; i < 3000; i++) log.info("a line", { i, long });
log.flush();
freeAll();
log.flush();
log.info("after");
log.flush();
`);
    const dropped = lines.find((line) => line.msg.startsWith("log lines dropped"));
    const kept = lines.filter((line) => line.msg === "a line").map((line) => line.i);
    expect(dropped?.level).toBe("warn");
    expect(kept.length).toBeGreaterThan(500);
    expect(kept).toEqual(kept.map((_, n) => n));
    expect(kept.length + dropped.count).toBe(3000);
    expect(lines.at(-1).msg).toBe("after");
  });

  test("while it waits, lines cost no try at the file each: only its timer tries again", () => {
    const lines = run(`
takeAll();
log.warn("the first, which finds none free");
const startMs = performance.now();
for (let i = 0; i < 20000; i++) log.warn("urgent, each", { i });
const tookMs = performance.now() - startMs;
freeAll();
log.flush();
log.info("took", { tookMs });
log.flush();
`);
    const kept = lines.filter((line) => line.msg === "urgent, each").length;
    const dropped = lines.find((line) => line.msg.startsWith("log lines dropped"))?.count ?? 0;
    expect(kept + dropped).toBe(20000);
    // A try at the file for each line, its held lines joined each time, took about 2 s here.
    expect(lines.at(-1).tookMs).toBeLessThan(700);
  });
});
