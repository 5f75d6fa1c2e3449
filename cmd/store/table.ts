/** The store's apps as a table, in the language of `t`. */

import type { StoreView } from "../../lib/catalog/store-view.ts";
import type { Messages } from "../../lib/i18n/messages.ts";
import { textIn } from "../../protocol/catalog.ts";
import { table } from "../text.ts";

export function storeTable(store: StoreView, t: Messages): string {
  const s = t.cli.store;
  if (store.apps.length === 0) return s.none;
  return table(
    [s.app, s.version, s.catalog, s.state, s.about],
    store.apps.map((app) => [
      app.id,
      app.version,
      app.catalog,
      app.update
        ? s.updateFrom({ version: app.installed?.version ?? "" })
        : app.installed
          ? app.installed.version === app.version
            ? s.installed
            : s.installedOther({ version: app.installed.version })
          : app.notInstallable
            ? s.notInstallable
            : "-",
      textIn(app.summary, t.language),
    ]),
  );
}
