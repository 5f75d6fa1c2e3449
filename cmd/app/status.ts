/** `bucky app status <app>`: where an app runs, its state, and what went wrong if anything. */
import type { AppStatus } from "../../lib/apps/status.ts";
import { requestDaemon } from "../../lib/node/daemon-client.ts";
import { defineBuckyCommand } from "../command.ts";

export default defineBuckyCommand({
  meta: { name: "status", description: "Show an app's state, device, URL and sandboxing" },
  args: { app: { type: "positional", required: true, description: "The app's id" } },
  run: (args, context) =>
    requestDaemon<AppStatus>(context.home, "GET", `/v1/apps/${encodeURIComponent(args.app)}`),
  text: (status) =>
    [
      `${status.app} ${status.version}: ${status.state}`,
      `  device     ${status.device ?? "(none can run it now)"}${status.placement === "any" ? " (placed on any device)" : ""}`,
      `  url        ${status.url ?? "-"}`,
      `  exposure   ${status.exposure}`,
      `  sandboxed  ${status.sandboxed ? "yes (bubblewrap)" : "no: install bubblewrap on that device to isolate it"}`,
      `  restarts   ${status.restarts}`,
      ...(status.error ? [`  problem    ${status.error}`] : []),
    ].join("\n"),
});
