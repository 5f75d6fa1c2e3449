/** `bucky daemon uninstall`: stop running the daemon at boot. */
import { planUnit, systemdRunning, uninstallUnit } from "../../lib/node/systemd.ts";
import { defineBuckyCommand } from "../command.ts";
import { buckyCommandLine } from "./command-line.ts";

export default defineBuckyCommand({
  meta: { name: "uninstall", description: "Stop and remove the daemon's systemd unit" },
  args: {},
  run(_args, context) {
    const plan = planUnit({
      command: buckyCommandLine(),
      home: context.home,
      extraArgs: [],
      system: process.getuid?.() === 0,
    });
    const removed = systemdRunning() && uninstallUnit(plan);
    if (removed) context.log.info("daemon uninstalled", { unit: plan.path });
    return { removed, path: plan.path };
  },
  text: (result) =>
    result.removed
      ? `Stopped the daemon and removed ${result.path}.`
      : `There was nothing to remove (${result.path} is not installed).`,
});
