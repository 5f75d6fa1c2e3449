/** `bucky daemon install`: start the node at boot, and again whenever it stops. */
import { installUnit, planUnit, systemdRunning } from "../../lib/node/systemd.ts";
import { defineBuckyCommand } from "../command.ts";
import { buckyCommandLine } from "./command-line.ts";

export default defineBuckyCommand({
  meta: {
    name: "install",
    description: "Run the daemon at boot with systemd (restarted if it crashes)",
  },
  args: {
    port: { type: "string", valueHint: "n", description: "Port for the daemon (default: 4411)" },
    listen: {
      type: "string",
      valueHint: "addr",
      description: "Address for the daemon (default: 0.0.0.0)",
    },
  },
  run(args, context) {
    const extraArgs = [
      ...(args.port ? ["--port", args.port] : []),
      ...(args.listen ? ["--listen", args.listen] : []),
    ];
    const plan = planUnit({
      command: buckyCommandLine(),
      home: context.home,
      extraArgs,
      system: process.getuid?.() === 0,
    });
    if (!systemdRunning()) {
      return { installed: false, path: plan.path, unit: plan.unit };
    }
    installUnit(plan);
    context.log.info("daemon installed", { unit: plan.path });
    return { installed: true, path: plan.path, unit: plan.unit };
  },
  text: (result) =>
    result.installed
      ? `Installed ${result.path}; the daemon runs now and at every boot. See it with \`systemctl${result.path.startsWith("/etc") ? "" : " --user"} status bucky\`.`
      : [
          "systemd is not running on this machine, so nothing was installed.",
          `To use systemd elsewhere, save this as ${result.path}, then run \`systemctl daemon-reload && systemctl enable --now bucky\`:`,
          "",
          result.unit,
          "Otherwise, start `bucky daemon` from your init system or a process supervisor.",
        ].join("\n"),
});
