/**
 * The README's "Your zone in six commands", walked as written: the commands are read
 * from README.md itself, run on two nodes on loopback (each with its own home, on free
 * ports), and the test fails if the path needs a seventh. What each step promises is
 * checked from the outside: the node runs in the background, B has the zone when join
 * returns, the app answers where install said, the panel link signs a browser in and
 * opens the app by name, and the first backup is made and read back.
 */
import { afterAll, describe, expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import { join, resolve } from "node:path";
import {
  bucky,
  buckyJson,
  cleanUp,
  freePort,
  newHomePath,
  type RunResult,
  scratchDir,
  waitFor,
} from "./harness.ts";

afterAll(cleanUp);

const ROOT = resolve(import.meta.dir, "..");

/** The commands of the README's section, in order, as typed (comments dropped). */
function readmeCommands(): string[] {
  const readme = readFileSync(join(ROOT, "README.md"), "utf8");
  const section = readme.split("## Your zone in six commands")[1] ?? "";
  const block = /```sh\n([\s\S]*?)```/.exec(section)?.[1] ?? "";
  return block
    .split("\n")
    .map((line) => line.replace(/#.*$/, "").trim())
    .filter(Boolean);
}

const homes = { a: newHomePath(), b: newHomePath() };
const gatewayPort = freePort();
const backupDir = join(scratchDir(), "usb");
const notes = join(ROOT, "fixtures/apps/notes");
/** What the user reads on screen between steps. */
let token = "";
const typed: string[] = [];
/** Every bucky this walk runs, to count them. */
let runs = 0;

/** The README's command, as run here: on a node's home, on free loopback ports. */
function asRunHere(command: string): { argv: string[]; home: string } {
  typed.push(command);
  const words = command === "npm run up" ? ["bucky", "up"] : command.split(/\s+/);
  expect(words[0]).toBe("bucky");
  const argv = words
    .slice(1)
    .map((word) =>
      word === "<token>"
        ? token
        : word === "/mnt/usb/bucky"
          ? backupDir
          : word === "fixtures/apps/notes"
            ? notes
            : word,
    );
  const onB = argv[0] === "join";
  const listen = ["up", "join"].includes(argv[0] as string)
    ? ["--port", "0", "--listen", "127.0.0.1"]
    : [];
  const gateway = argv[0] === "up" ? ["--gateway", `127.0.0.1:${gatewayPort}`] : [];
  const home = onB ? homes.b : homes.a;
  return { argv: [...argv, ...listen, ...gateway, "--home", home], home };
}

async function step(command: string | undefined): Promise<RunResult> {
  if (command === undefined) throw new Error("the README has fewer than six commands");
  const { argv } = asRunHere(command);
  runs++;
  const result = await bucky(argv, { env: { BUCKY_SUPERVISOR: "process" } });
  if (result.exitCode !== 0)
    throw new Error(`\`${command}\` exited ${result.exitCode}: ${result.stderr}`);
  return result;
}

describe("your zone in six commands", () => {
  const commands = readmeCommands();

  test("the README lists six commands", () => {
    expect(commands).toHaveLength(6);
  });

  test("1. npm run up: a zone, its phrase shown once, and its node running in the background", async () => {
    const { stdout } = await step(commands[0]);
    expect(stdout).toContain("Your recovery phrase");
    expect(stdout).toMatch(/ 24\. [a-z]+/);
    expect(stdout).toContain("bucky invite");
    const info = JSON.parse(readFileSync(join(homes.a, "daemon.json"), "utf8")) as { pid: number };
    expect(() => process.kill(info.pid, 0)).not.toThrow();
    // The command has returned: the node outlives it.
    const status = await buckyJson<{ device: { name: string } }>(["status", "--home", homes.a]);
    expect(status.device.name).toBeTruthy();
  });

  test("2. bucky invite prints the one command to type on the new device", async () => {
    const { stdout } = await step(commands[1]);
    const line = stdout.split("\n").find((l) => l.trim().startsWith("bucky join "));
    expect(line).toBeDefined();
    token = (line as string).trim().slice("bucky join ".length);
    expect(commands[2]).toBe("bucky join <token>");
  });

  test("3. bucky join returns with the zone's state on B and B's node running", async () => {
    const { stdout } = await step(commands[2]);
    expect(stdout).toContain("Joined zone");
    const a = await buckyJson<{ entries: { key: string }[] }>([
      "state",
      "list",
      "devices/",
      "--home",
      homes.a,
    ]);
    const b = await buckyJson<{ entries: { key: string }[] }>([
      "state",
      "list",
      "devices/",
      "--home",
      homes.b,
    ]);
    expect(b.entries.map((e) => e.key)).toEqual(
      expect.arrayContaining(a.entries.map((e) => e.key).filter((k) => k.endsWith("/doc"))),
    );
    await waitFor("A to hear B's node", async () => {
      const { devices } = await buckyJson<{ devices: { self: boolean; status: string }[] }>([
        "devices",
        "--home",
        homes.a,
      ]);
      return devices.every((d) => d.status === "online") && devices.length === 2 ? true : undefined;
    });
  });

  let appAddress = "";
  test("4. bucky app install prints where the app answers", async () => {
    const { stdout } = await step(commands[3]);
    const match = /answers at (http:\/\/\S+)/.exec(stdout);
    expect(match).not.toBeNull();
    appAddress = (match as RegExpExecArray)[1] as string;
    // A port of the app's own beside the gateway's; said by path (which leads there) when
    // the gateway had not yet said which.
    const address = new URL(appAddress);
    expect(
      address.pathname === "/"
        ? Number(address.port) > gatewayPort
        : appAddress === `http://127.0.0.1:${gatewayPort}/apps/notes/`,
    ).toBe(true);
    // A zone-only app: without a session, the gateway asks to sign in.
    const anonymous = await fetch(appAddress, { redirect: "manual" });
    expect([401, 302, 303]).toContain(anonymous.status);
  });

  test("5. bucky panel: a link that signs a browser in, and the app opens by name", async () => {
    const { stdout } = await step(commands[4]);
    const link = stdout.split("\n")[0]?.trim() as string;
    const signIn = await fetch(link, { redirect: "manual" });
    expect([302, 303]).toContain(signIn.status);
    const cookie = (signIn.headers.get("set-cookie") ?? "").split(";")[0] as string;
    expect(cookie).toMatch(/^bucky_session=/);
    const panel = await fetch(new URL(signIn.headers.get("location") as string, link), {
      headers: { cookie },
    });
    expect(panel.status).toBe(200);
    expect(await panel.text()).toContain("/apps/notes/");
    const app = await fetch(`${appAddress}health`, { headers: { cookie } });
    expect(app.status).toBe(200);
  });

  test("6. bucky backup target add: the first backup, made and read back", async () => {
    const { stdout } = await step(commands[5]);
    expect(stdout).toMatch(/First backup: snapshot [0-9a-f]{8}/);
    expect(stdout).toContain("Verified");
    const { snapshots } = await buckyJson<{ snapshots: unknown[] }>([
      "backup",
      "list",
      "--home",
      homes.a,
    ]);
    expect(snapshots).toHaveLength(1);
  });

  test("six commands and no seventh", () => {
    expect(typed).toEqual(commands);
    expect(runs).toBe(6);
  });
});
