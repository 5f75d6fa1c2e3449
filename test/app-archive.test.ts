/**
 * An app archive (a .tar or .tar.gz of an app's directory) is unpacked by bucky's own
 * bounded reader in the node's home, never by tar into the temporary directory: a gzip
 * bomb is refused once its files pass the largest package, nothing of it left; links,
 * devices and paths out are refused; a real app's archive installs as its directory
 * does. The CLI sends an archive file as it reads it, never holding it whole.
 */
import { afterAll, describe, expect, test } from "bun:test";
import {
  chmodSync,
  cpSync,
  existsSync,
  mkdirSync,
  readdirSync,
  truncateSync,
  writeFileSync,
} from "node:fs";
import { join, resolve } from "node:path";
import { gzipBomb, tarHeader } from "../lib/archive/test-archives.ts";
import { MAX_PACKAGE_BYTES } from "../protocol/app-package.ts";
import { BUCKY, buckyJson, cleanUp, newHomePath, scratchDir, startDaemon } from "./harness.ts";
import { runMeasured } from "./peak-memory.ts";

afterAll(cleanUp);

const SITE = resolve(import.meta.dir, "../fixtures/apps/site");
const MiB = 1024 * 1024;

/** A zone of one device with its daemon, whose temporary directory is `tmp`. */
async function oneDevice(): Promise<{ home: string; socket: string; tmp: string }> {
  const home = newHomePath();
  const tmp = scratchDir();
  await buckyJson(["init", "--home", home]);
  await startDaemon(home, { TMPDIR: tmp });
  return { home, socket: join(home, "daemon.sock"), tmp };
}

async function upload(socket: string, body: Uint8Array) {
  const response = await fetch("http://localhost/v1/apps/archive?unsandboxed=1", {
    method: "POST",
    unix: socket,
    body,
  });
  return { status: response.status, body: await response.json() };
}

/** The files under `dir`, at any depth (none if it is not there). */
function filesUnder(dir: string): number {
  if (!existsSync(dir)) return 0;
  return readdirSync(dir, { recursive: true, withFileTypes: true }).filter((e) => e.isFile())
    .length;
}

describe("an app archive uploaded", () => {
  test("a gzip bomb is refused at the largest package, unpacked in the home and not the temporary directory, nothing left", async () => {
    const { home, socket, tmp } = await oneDevice();
    // 320 MiB of zeros in 4 MiB files, well under a megabyte packed.
    const bomb = gzipBomb(80, 4 * MiB);
    expect(bomb.length).toBeLessThan(MiB);
    let answered = false;
    const answer = upload(socket, bomb).finally(() => {
      answered = true;
    });
    // Where its files are written while it is unpacked.
    let inTmp = 0;
    let inHome = 0;
    while (!answered) {
      inTmp = Math.max(inTmp, filesUnder(tmp));
      inHome = Math.max(inHome, filesUnder(join(home, "uploads")));
      await Bun.sleep(5);
    }
    expect({ answer: await answer, inTmp, inHomeSeen: inHome > 0 }).toEqual({
      answer: {
        status: 400,
        body: {
          error: {
            code: "E_INVALID_INPUT",
            message: `that app archive holds more than ${MAX_PACKAGE_BYTES} bytes of files: an app archive unpacks to at most ${MAX_PACKAGE_BYTES} bytes, 30000 entries, and ${MAX_PACKAGE_BYTES} bytes a file (totalBytes)`,
            hint: "Nothing was kept. An app's package is at most 256 MiB: leave out what the app does not need to run.",
          },
        },
      },
      inTmp: 0,
      inHomeSeen: true,
    });
    expect({ home: readdirSync(join(home, "uploads")), tmp: readdirSync(tmp) }).toEqual({
      home: [],
      tmp: [],
    });
  }, 60_000);

  test("a link, a device or a path out is refused, nothing written outside", async () => {
    const { home, socket } = await oneDevice();
    const outside = scratchDir();
    const manifest = new TextEncoder().encode(JSON.stringify({ id: "x", version: "1.0.0" }));
    const archive = (...entries: Uint8Array[]) =>
      new Uint8Array(Buffer.concat([...entries, new Uint8Array(1024)]));
    const file = (name: string, bytes: Uint8Array) =>
      Buffer.concat([tarHeader(name, bytes.length), bytes, new Uint8Array(512 - bytes.length)]);
    const cases: [Uint8Array, string][] = [
      // A link to a directory outside, then a file through it.
      [
        archive(tarHeader("app/out", 0, "2", outside), file("app/out/pwned", manifest)),
        "that app archive holds app/out, a symbolic link: an app archive holds only plain files and directories",
      ],
      [
        archive(tarHeader("app/passwd", 0, "1", "/etc/passwd")),
        "that app archive holds app/passwd, a hard link: an app archive holds only plain files and directories",
      ],
      [
        archive(tarHeader("app/fifo", 0, "6")),
        "that app archive holds app/fifo, a FIFO: an app archive holds only plain files and directories",
      ],
      [
        archive(file(`../${outside.split("/").pop()}/pwned`, manifest)),
        `that app archive holds "../${outside.split("/").pop()}/pwned", a path outside the app's directory`,
      ],
      [
        archive(file(join(outside, "pwned"), manifest)),
        `that app archive holds ${JSON.stringify(join(outside, "pwned"))}, a path outside the app's directory`,
      ],
    ];
    const answers = [];
    for (const [bytes] of cases) answers.push(await upload(socket, bytes));
    expect(
      answers.map((a) => [a.status, (a.body as { error: { message: string } }).error.message]),
    ).toEqual(cases.map(([, message]) => [400, message]));
    expect({ outside: readdirSync(outside), uploads: readdirSync(join(home, "uploads")) }).toEqual({
      outside: [],
      uploads: [],
    });
  }, 60_000);

  test("a real app's archive, packed by tar with an executable file, installs as its directory does", async () => {
    const { home } = await oneDevice();
    const dir = join(scratchDir(), "site");
    cpSync(SITE, dir, { recursive: true });
    writeFileSync(join(dir, "run.sh"), "#!/bin/sh\nexec bun serve.ts\n");
    chmodSync(join(dir, "run.sh"), 0o755);
    mkdirSync(join(dir, "public", "deep", "er"), { recursive: true });
    writeFileSync(join(dir, "public", "deep", "er", `${"n".repeat(120)}.html`), "long name");
    const fromDir = await buckyJson<{ app: string; package: string }>([
      "app",
      "install",
      dir,
      "--no-wait",
      "--home",
      home,
    ]);
    // Of the directory's contents (./…), and of the directory itself (site/…), gzipped:
    // the same package, its executable file still one (else "different files").
    const archives = [join(scratchDir(), "site.tar"), join(scratchDir(), "site.tar.gz")];
    expect(Bun.spawnSync(["tar", "-cf", archives[0] as string, "-C", dir, "."]).exitCode).toBe(0);
    expect(
      Bun.spawnSync(["tar", "-czf", archives[1] as string, "-C", join(dir, ".."), "site"]).exitCode,
    ).toBe(0);
    const installed = [];
    for (const archive of archives)
      installed.push(
        await buckyJson<{ app: string; package: string }>([
          "app",
          "install",
          archive as string,
          "--no-wait",
          "--home",
          home,
        ]),
      );
    expect(installed.map(({ app, package: id }) => ({ app, package: id }))).toEqual([
      { app: "site", package: fromDir.package },
      { app: "site", package: fromDir.package },
    ]);
    expect(readdirSync(join(home, "uploads"))).toEqual([]);
  }, 60_000);
});

describe("an app archive file sent by the CLI", () => {
  test("is streamed, not read whole: one past the bound is refused with the CLI's memory low", async () => {
    const { home } = await oneDevice();
    // 400 MiB, sparse: nothing on disk, all of it read if the CLI reads it whole.
    const big = join(scratchDir(), "big.tar");
    writeFileSync(big, "");
    truncateSync(big, 400 * MiB);
    const { exitCode, stderr, peakMiB } = await runMeasured(
      [BUCKY, "app", "install", big, "--home", home, "--json"],
      { PATH: process.env.PATH ?? "/usr/bin:/bin", HOME: scratchDir() },
    );
    expect(
      { exitCode, error: JSON.parse(stderr).error.code, rssUnder200MiB: peakMiB < 200 },
      `max RSS ${peakMiB} MiB; ${stderr}`,
    ).toEqual({ exitCode: 2, error: "E_TOO_LARGE", rssUnder200MiB: true });
  }, 60_000);
});
