#!/usr/bin/env bun
/**
 * The entry point of the `bucky` binary: the only place that exits the process.
 * `bucky --version` answers before anything else is loaded.
 */
import { keepLoopbackOffProxies } from "../lib/node/loopback-proxy.ts";
import { VERSION } from "./version-info.ts";

// The binary starts with the JIT ten times slower to compile (`--compile-jit-policy` in the
// Justfile): a command's start runs each function a few times, and compiling it cost more
// than it saved (`bucky status` took 2-5 ms less CPU). What runs longer than this is doing
// its real work (the daemon, a backup, an app's door): from then on, the normal policy.
const NORMAL_JIT_AFTER_MS = 100;
setTimeout(() => Bun.unsafe.setJITPolicy(1), NORMAL_JIT_AFTER_MS).unref();

const argv = process.argv.slice(2);
if (argv.length === 1 && (argv[0] === "--version" || argv[0] === "-V")) {
  // Bun.write, not process.stdout: that stream's first use loads node:fs's streams, which
  // took longer than the rest of the binary's start.
  Bun.write(Bun.stdout, `bucky ${VERSION}\n`).then(() => process.exit(0));
} else if (argv[0] === "sandbox-init") {
  // Inside an app's sandbox (lib/apps/sandbox-init.ts): none of the command line's machinery.
  import("./sandbox-init.ts").then(async ({ sandboxInit }) => {
    process.exit(await sandboxInit(argv.slice(1)));
  });
} else {
  keepLoopbackOffProxies(process.env);
  import("./cli.ts").then(async ({ main, flushOutput }) => {
    const code = await main(argv);
    await flushOutput();
    process.exit(code);
  });
}
