/** `bucky app import <docker-compose.yml>`: a bucky manifest from a compose file of one service. */
import { importCompose } from "../../lib/images/compose.ts";
import { defineBuckyCommand } from "../command.ts";

export default defineBuckyCommand({
  meta: {
    name: "import",
    description:
      "Make an app's manifest from a docker-compose.yml of one service (as Umbrel and CasaOS app stores publish them)",
    examples: [
      "bucky app import docker-compose.yml            # writes ./<app>/bucky-app.json",
      "bucky app import compose.yaml --out photos --id photos",
    ],
  },
  args: {
    file: { type: "positional", required: true, description: "The compose file" },
    out: {
      type: "string",
      valueHint: "dir",
      description: "Where to write the app's directory (default: ./<app id>)",
    },
    id: { type: "string", valueHint: "app", description: "The app's id (default: from the file)" },
  },
  run: (args) =>
    importCompose({
      file: args.file,
      cwd: process.cwd(),
      ...(args.out ? { outDir: args.out } : {}),
      ...(args.id ? { id: args.id } : {}),
    }),
  text: (result) =>
    [
      `Wrote ${result.dir}/bucky-app.json for ${result.app} (${(result.manifest.run as { image: string }).image}).`,
      ...(result.dropped.length > 0
        ? ["Not carried over:", ...result.dropped.map((line) => `  - ${line}`)]
        : []),
      `Check it, then install it with \`bucky app install ${result.dir}\`.`,
    ].join("\n"),
});
