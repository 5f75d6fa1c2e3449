#!/usr/bin/env bun
/**
 * The entry point of the `bucky` binary: the only place that exits the process.
 * `bucky --version` answers before anything else is loaded.
 */
import { normalJitAfterStart } from "../lib/node/jit-policy.ts";
import { keepLoopbackOffProxies } from "../lib/node/loopback-proxy.ts";
import { VERSION } from "./version-info.ts";

normalJitAfterStart();

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
