/**
 * `bucky store add <address | dir | file>`: add an app catalog to the zone. It is read
 * first and its publisher's key shown; it is added once that key is accepted (--key, or
 * yes at the prompt on a terminal).
 */
import { existsSync, statSync } from "node:fs";
import { resolve } from "node:path";
import type { CatalogPreview } from "../../lib/catalog/catalogs.ts";
import { BuckyError } from "../../lib/errors.ts";
import { requestDaemon } from "../../lib/node/daemon-client.ts";
import { type HeldAnswer, pathAsked } from "../../lib/node/held-wait.ts";
import type { CatalogRecord } from "../../protocol/catalog-record.ts";
import { defineBuckyCommand } from "../command.ts";
import { notHeldYetNote, waitArgs } from "../held-elsewhere.ts";

/**
 * How long adding may take: storing a file catalog's packages, then waiting for another
 * device to hold each (25 s at most each, all at once), well past the 30 s of a plain call.
 */
export const CATALOG_TIMEOUT_MS = 10 * 60_000;

export default defineBuckyCommand({
  meta: {
    name: "add",
    description:
      "Add an app catalog (an address, a directory, or a .tar of one), once you accept its publisher's key; a newer version of a catalog the zone has replaces it",
    examples: [
      "bucky store add https://apps.example.com/catalog/",
      "bucky store add ./example-apps.tar.gz --key pabcd…",
    ],
  },
  args: {
    source: {
      type: "positional",
      required: true,
      description: "The catalog's https:// address, its directory, or a .tar(.gz) of it",
    },
    key: {
      type: "string",
      valueHint: "publisher",
      description: "The publisher's key you accept (p…, as the publisher gives it)",
    },
    ...waitArgs(),
  },
  async run(args, context) {
    // An address of any scheme goes as it is: the daemon says which it takes (an ftp:// one
    // taken for a path was said to be no directory holding a catalog).
    const address = /^[a-z][a-z0-9+.-]*:\/\//i.test(args.source);
    const path = resolve(args.source);
    const isFile = !address && existsSync(path) && statSync(path).isFile();
    const preview = isFile
      ? await requestDaemon<CatalogPreview>(
          context.home,
          "POST",
          "/v1/store/catalogs/preview-file",
          // Sent as it is read from the file, never held whole.
          Bun.file(path),
        )
      : await requestDaemon<CatalogPreview>(context.home, "POST", "/v1/store/catalogs/preview", {
          source: address ? args.source : path,
        });
    const s = (await context.messages()).cli.store;
    if (args.key !== undefined && args.key.replace(/\s+/g, "") !== preview.publisher)
      throw new BuckyError(
        "E_INTEGRITY",
        `the catalog is signed by ${preview.publisher}, not by the key you gave (${args.key})`,
        "Nothing was added. Check the key with the publisher.",
      );
    if (args.key === undefined) {
      if (!process.stdin.isTTY || context.json)
        throw new BuckyError(
          "E_USAGE",
          `catalog ${preview.name} is signed by the publisher ${preview.publisher}: accept that key with --key ${preview.publisher}`,
          "Accept it only if the publisher gave you this key themselves.",
        );
      process.stderr.write(
        `${s.askAccept({ catalog: preview.name, apps: preview.apps, publisher: preview.publisher })} `,
      );
      let answer = "";
      for await (const line of console) {
        answer = line;
        break;
      }
      if (!/^(y|yes|是|好)$/i.test(answer.trim()))
        throw new BuckyError("E_USAGE", "the catalog was not added: its key was not accepted");
    }
    return requestDaemon<CatalogRecord & HeldAnswer>(
      context.home,
      "POST",
      pathAsked("/v1/store/catalogs", args),
      { token: preview.token, publisher: preview.publisher },
      CATALOG_TIMEOUT_MS,
    );
  },
  text: (r, _args, t) =>
    [
      t.cli.store.added({ catalog: r.name, version: r.version, publisher: r.publisher }),
      ...notHeldYetNote(r, "catalog"),
    ].join("\n"),
});
