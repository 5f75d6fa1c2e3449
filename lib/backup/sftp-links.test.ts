/**
 * Found by an attacker review (round 5); these tests failed before
 * its fix.
 *
 * Round 4 (898b686) made LocalBackend list, write and remove nothing through a link inside
 * the repository: a prune's stray-pack sweep (prune.ts strayPacks) lists each data/<xx>
 * and removes every file there no index names, so data/00 made a link to another
 * directory had a prune delete that directory's files. SftpBackend has no such check: the
 * server follows a link anyone with the target's credentials makes (SFTP itself can make
 * one: SSH_FXP_SYMLINK), so the sweep lists and removes the files of a directory outside
 * the repository: here another repository's packs on the same account (a second target,
 * another zone's), which its own snapshots need.
 */
import { afterAll, beforeAll, expect, test } from "bun:test";
import { existsSync, mkdirSync, symlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { type Sshd, startSshd } from "../../test/sshd.ts";
import { SftpBackend } from "./sftp-backend.ts";

let sshd: Sshd;

beforeAll(async () => {
  sshd = await startSshd();
});

afterAll(async () => {
  await sshd?.stop();
});

test("a prune's sweep of data/00 over SFTP lists and removes nothing through a link", async () => {
  // Another repository on the same account: one of its packs, which its index names.
  const other = join(sshd.root, "other-repo", "data", "00");
  mkdirSync(other, { recursive: true });
  const pack = `00${"a".repeat(62)}`;
  writeFileSync(join(other, pack), "a pack another repository's snapshots need");
  // This repository, its data/00 made a link to that directory.
  const dir = join(sshd.root, "repo");
  mkdirSync(join(dir, "data"), { recursive: true });
  symlinkSync(other, join(dir, "data", "00"));
  const backend = await SftpBackend.connect(`sftp://${sshd.user}@127.0.0.1:${sshd.port}${dir}`, {
    identityFile: sshd.identityFile,
    hostKey: sshd.hostKey,
    timeoutMs: 5_000,
  });
  try {
    // What prune.ts strayPacks does for data/00, with an index naming none of these.
    const listed = await backend.list("data/00").catch(() => [] as string[]);
    for (const name of listed) await backend.remove(`data/00/${name}`).catch(() => {});
    // On main: listed is [pack], and the other repository's pack is gone.
    expect({ listed, otherPackThere: existsSync(join(other, pack)) }).toEqual({
      listed: [],
      otherPackThere: true,
    });
  } finally {
    await backend.close();
  }
}, 30_000);

test("SftpBackend lists, removes and writes nothing through a link inside the repository, and says so", async () => {
  const other = join(sshd.root, "other-repo-2", "data", "00");
  mkdirSync(other, { recursive: true });
  const pack = `00${"b".repeat(62)}`;
  writeFileSync(join(other, pack), "a pack another repository's snapshots need");
  const dir = join(sshd.root, "repo-2");
  mkdirSync(join(dir, "data"), { recursive: true });
  symlinkSync(other, join(dir, "data", "00"));
  // The root may be a link the person gave: only links inside the repository are refused.
  const rootLink = join(sshd.root, "repo-2-link");
  symlinkSync(dir, rootLink);
  const backend = await SftpBackend.connect(
    `sftp://${sshd.user}@127.0.0.1:${sshd.port}${rootLink}`,
    { identityFile: sshd.identityFile, hostKey: sshd.hostKey, timeoutMs: 5_000 },
  );
  const codeOf = (work: Promise<unknown>) =>
    work.then(
      () => "done",
      (error: { code?: string }) => error.code,
    );
  try {
    expect({
      list: await codeOf(backend.list("data/00")),
      remove: await codeOf(backend.remove(`data/00/${pack}`)),
      write: await codeOf(backend.write("data/00/planted", new Uint8Array([1]))),
      create: await codeOf(backend.create("data/00/planted", new Uint8Array([1]))),
      // Beside it, through the root's link, all goes on.
      writeBeside: await codeOf(backend.write("data/01/kept", new Uint8Array([1]))),
      listBeside: await backend.list("data/01"),
      otherPackThere: existsSync(join(other, pack)),
      plantedThere: existsSync(join(other, "planted")),
    }).toEqual({
      list: "E_INTEGRITY",
      remove: "E_INTEGRITY",
      write: "E_INTEGRITY",
      create: "E_INTEGRITY",
      writeBeside: "done",
      listBeside: ["kept"],
      otherPackThere: true,
      plantedThere: false,
    });
  } finally {
    await backend.close();
  }
}, 30_000);
