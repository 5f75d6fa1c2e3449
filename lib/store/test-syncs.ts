/**
 * For tests of durability: how many times a script syncs a file (fsync, fdatasync) between
 * two marks it makes, counted with strace in a process of its own. The script calls
 * `mark("begin")` and `mark("end")` (given to it) around the writes counted.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

export async function syncsBetweenMarks(script: string): Promise<number> {
  const dir = mkdtempSync(join(tmpdir(), "bucky-syncs-"));
  try {
    const path = join(dir, "script.ts");
    writeFileSync(
      path,
      `import { accessSync } from "node:fs";
const mark = (name: string) => { try { accessSync("/bucky-syncs-" + name); } catch {} };
${script}
`,
    );
    const trace = join(dir, "trace");
    const child = Bun.spawn(
      [
        ...["strace", "-f", "-qq", "-e", "trace=fsync,fdatasync,access,faccessat,faccessat2"],
        ...["-o", trace, process.execPath, path],
      ],
      { stdout: "ignore", stderr: "pipe" },
    );
    const stderr = await new Response(child.stderr).text();
    if ((await child.exited) !== 0 || stderr !== "")
      throw new Error(`the traced script failed (is strace installed?): ${stderr}`);
    const lines = readFileSync(trace, "utf8").split("\n");
    const begin = lines.findIndex((line) => line.includes("bucky-syncs-begin"));
    const end = lines.findIndex((line) => line.includes("bucky-syncs-end"));
    if (begin < 0 || end < begin) throw new Error("the script made no marks");
    return lines.slice(begin, end).filter((line) => /\bf(data)?sync\(/.test(line)).length;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
