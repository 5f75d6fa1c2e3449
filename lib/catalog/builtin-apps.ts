/**
 * The apps that ship with bucky (fixtures/apps), inside the binary: Bun embeds each file
 * imported `with { type: "text" }`. TypeScript sees a .ts file as a module, not text, so
 * those come in as namespaces and are read through `textOf`.
 */
import notesManifest from "../../fixtures/apps/notes/bucky-app.json" with { type: "text" };
import notesIcon from "../../fixtures/apps/notes/icon.svg" with { type: "text" };
import * as notesServer from "../../fixtures/apps/notes/server.ts" with { type: "text" };
import siteManifest from "../../fixtures/apps/site/bucky-app.json" with { type: "text" };
import siteIcon from "../../fixtures/apps/site/icon.svg" with { type: "text" };
import siteIndex from "../../fixtures/apps/site/public/index.html" with { type: "text" };
import * as siteServe from "../../fixtures/apps/site/serve.ts" with { type: "text" };
import whoamiManifest from "../../fixtures/apps/whoami/bucky-app.json" with { type: "text" };
import whoamiIcon from "../../fixtures/apps/whoami/icon.svg" with { type: "text" };
import * as whoamiServer from "../../fixtures/apps/whoami/server.ts" with { type: "text" };

/** A file of a built-in app, by its path in the app's directory. */
export type BuiltinFiles = Readonly<Record<string, string>>;

const textOf = (embedded: unknown): string =>
  typeof embedded === "string" ? embedded : (embedded as { default: string }).default;

export const BUILTIN_APPS: Readonly<Record<"notes" | "site" | "whoami", BuiltinFiles>> = {
  notes: {
    "bucky-app.json": textOf(notesManifest),
    "icon.svg": textOf(notesIcon),
    "server.ts": textOf(notesServer),
  },
  site: {
    "bucky-app.json": textOf(siteManifest),
    "icon.svg": textOf(siteIcon),
    "public/index.html": textOf(siteIndex),
    "serve.ts": textOf(siteServe),
  },
  whoami: {
    "bucky-app.json": textOf(whoamiManifest),
    "icon.svg": textOf(whoamiIcon),
    "server.ts": textOf(whoamiServer),
  },
};
