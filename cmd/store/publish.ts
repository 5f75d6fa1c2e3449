/** `bucky store publish <catalog.json>`: make a signed catalog of apps, for a publisher. */
import { resolve } from "node:path";
import { publishCatalog } from "../../lib/catalog/publish.ts";
import { defineBuckyCommand } from "../command.ts";

export default defineBuckyCommand({
  meta: {
    name: "publish",
    description:
      "Make a signed app catalog from a description of it (see the README): a directory to serve over HTTP or pack into a file",
    examples: [
      "bucky store publish catalog.json --key publisher.key --out public/catalog",
      "tar -czf example-apps.tar.gz -C public/catalog .",
    ],
  },
  args: {
    spec: { type: "positional", required: true, description: "The catalog's description (JSON)" },
    key: {
      type: "string",
      required: true,
      valueHint: "file",
      description: "The publisher's key file (made if it does not exist: keep it safe)",
    },
    out: {
      type: "string",
      required: true,
      valueHint: "dir",
      description: "Where to write the catalog",
    },
  },
  run: (args, context) =>
    publishCatalog({
      spec: args.spec,
      keyFile: resolve(args.key),
      out: resolve(args.out),
      log: context.log,
      now: context.now,
    }),
  text: (r, _args, t) =>
    [
      t.cli.store.published({
        catalog: r.catalog,
        version: r.version,
        apps: r.apps.length,
        out: r.out,
      }),
      t.cli.store.publisherIs({ publisher: r.publisher }),
      ...(r.keyMade ? [t.cli.store.keyMade] : []),
    ].join("\n"),
});
