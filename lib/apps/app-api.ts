/**
 * The app API: what an app may ask of the device that runs it, on a Unix socket of its
 * own, bound into its sandbox (its path is in BUCKY_API_SOCKET). Every call carries the
 * app's token (`Authorization: Bearer $BUCKY_APP_TOKEN`), which must be this device's,
 * for this app and the version of it installed now. A call is served as far as the
 * permissions of the app's manifest go (protocol/app-permissions.ts); anything else is
 * refused, 403 with the reason, and logged. Changes are paced by count and by bytes
 * (write-pace.ts): one over is refused with 429 and Retry-After. An app's live state is
 * capped (state-quota.ts): a write past the cap is refused with 507, writing nothing.
 *
 *   GET    /v1/whoami                     the app, its version and permissions
 *   GET    /v1/state?prefix=<prefix>      the entries under a prefix it may read
 *   GET    /v1/state/<key>                one entry
 *   PUT    /v1/state/<key>                write one: {"value": <JSON>}
 *   DELETE /v1/state/<key>                delete one
 *   POST   /v1/objects                    store the request body as named data, zone-wide: {"id", "size", "withinBudget"}
 *   DELETE /v1/objects/<id>               let it go: {"id", "deleted"}
 *   GET    /v1/objects/<id>               named data, from this device or the zone's others
 *   GET    /v1/users                      the people who may use the app: name and role
 *   GET    /v1/users/<name>               one of them (the name in a request's Bucky-User)
 */
import { chmodSync, chownSync, rmSync } from "node:fs";
import { Hono } from "hono";
import {
  mayListState,
  mayUseState,
  type StateAccess,
  statePrefixes,
} from "../../protocol/app-permissions.ts";
import { verifyAppToken } from "../../protocol/app-token.ts";
import { ProtocolError } from "../../protocol/errors.ts";
import type { DeviceId } from "../../protocol/ids.ts";
import { compareCodeUnits } from "../../protocol/text-order.ts";
import { BuckyError } from "../errors.ts";
import type { Log } from "../log.ts";
import { fetchToStore, peerSource, storeSource } from "../ndn/fetch.ts";
import { requireObjectId } from "../ndn/object-id.ts";
import { ndnResponse } from "../ndn/serve.ts";
import { recordAppObject, releaseAppObject } from "../ndn/stored-files.ts";
import { errorHandler, jsonObject, requestLog } from "../node/http.ts";
import type { NodeContext } from "../node/node-context.ts";
import { readBody } from "../node/request-body.ts";
import {
  deleteEntry,
  getEntry,
  type KeyValueStore,
  listEntries,
  setEntry,
  valueText,
} from "../state/kv.ts";
import { personMayUseApp, reachOf } from "../users/access.ts";
import type { AppUser } from "./app-user.ts";
import { readSpec } from "./spec.ts";
import { APP_STATE_MAX_BYTES, entryBytes, StateRoom } from "./state-quota.ts";
import { WritePace } from "./write-pace.ts";

/** The most named data an app may store in one call. */
export const MAX_OBJECT_BYTES = 64 * 1024 * 1024;
/** What an object's record in the zone state takes, paced as a state write's bytes are. */
const OBJECT_RECORD_BYTES = 150;

const STATE_PREFIX = "/v1/state/";

type Env = { Variables: { permissions: readonly string[] } };

export function createAppApi(
  node: NodeContext,
  app: string,
  log: Log,
  onBug: (error: unknown) => void,
  {
    pace = new WritePace(app, node.now, log),
    stateMaxBytes = APP_STATE_MAX_BYTES,
    running,
  }: {
    readonly pace?: WritePace;
    readonly stateMaxBytes?: number;
    /**
     * The version this device runs, whose tokens it takes: the version before while an
     * upgrade waits for its package (default: the version installed to run).
     */
    readonly running?: string;
  } = {},
): Hono<Env> {
  const api = new Hono<Env>();
  const room = new StateRoom(node.db, app, node.now, stateMaxBytes);
  /** A POST /v1/objects under way: one at a time. */
  let uploading = false;
  const store: KeyValueStore = {
    db: node.db,
    write: (ops) => node.write(ops),
    nameOf: (id) => node.membership().byId.get(id as DeviceId)?.name,
  };
  api.use(async (c, next) => {
    // The request log names the app as the caller.
    c.set("peer" as never, app as never);
    await next();
  });
  api.use(requestLog(log, "app"));
  api.onError(errorHandler(log, onBug));
  api.use(async (c, next) => {
    c.set("permissions", permissionsOf(node, app, running, c.req.header("authorization")));
    await next();
  });

  const may = (permissions: readonly string[], access: StateAccess, key: string) => {
    if (!mayUseState(permissions, app, access, key)) throw refused(permissions, access, key);
  };

  api.get("/v1/whoami", (c) => {
    const spec = readSpec(node.db, app);
    return c.json({
      app,
      version: spec?.version ?? null,
      zone: node.zoneId,
      device: node.deviceName,
      permissions: c.get("permissions"),
    });
  });
  api.get("/v1/state", (c) => {
    const prefix = c.req.query("prefix") ?? "";
    const permissions = c.get("permissions");
    if (!mayListState(permissions, app, prefix)) throw refused(permissions, "read", prefix, true);
    return c.json({ entries: listEntries(store, prefix) });
  });
  api.get(`${STATE_PREFIX}*`, (c) => {
    const key = keyIn(c.req.path);
    may(c.get("permissions"), "read", key);
    return c.json(getEntry(store, key));
  });
  api.put(`${STATE_PREFIX}*`, async (c) => {
    const key = keyIn(c.req.path);
    const permissions = c.get("permissions");
    may(permissions, "write", key);
    const body = await jsonObject(c);
    if (!("value" in body)) throw new BuckyError("E_USAGE", 'the body must be {"value": …}');
    const text = valueText(body.value);
    pace.take(entryBytes(key, text));
    room.take(permissions, key, text);
    return c.json(setEntry(store, key, body.value));
  });
  api.delete(`${STATE_PREFIX}*`, (c) => {
    const key = keyIn(c.req.path);
    may(c.get("permissions"), "write", key);
    // A delete's tombstone holds the key.
    pace.take(entryBytes(key, ""));
    room.take(c.get("permissions"), key, null);
    return c.json(deleteEntry(store, key));
  });
  api.post("/v1/objects", async (c) => {
    needs(c.get("permissions"), "ndn.write", "store named data");
    // One at a time: each is read whole (up to MAX_OBJECT_BYTES) before it is stored, and
    // an app sending them all at once held gigabytes of the daemon's memory (a hundred
    // calls of 64 MiB within its write pace), the daemon and every app with it at stake.
    if (uploading)
      throw new BuckyError(
        "E_UNAVAILABLE",
        "this app is storing named data already: one call at a time",
        "Wait for its answer, then send the next.",
        { retryAfterS: 1 },
      );
    uploading = true;
    try {
      // The bytes stay out of the zone state; its record of them (some 150 bytes) is in it.
      pace.take(OBJECT_RECORD_BYTES);
      const bytes = await readBody(c.req.raw, MAX_OBJECT_BYTES, "named data stored in one call");
      const stored = node.store.putBytes(bytes);
      // The zone's, as stored files are: every device copies it, and it outlives this one.
      const { withinBudget } = recordAppObject(node, node.deviceName, app, {
        id: stored.id,
        sizeBytes: stored.size,
      });
      // Past the zone's budget for stored files, no other device copies it: the app is told.
      return c.json({ ...stored, withinBudget });
    } finally {
      uploading = false;
    }
  });
  api.delete("/v1/objects/:id", (c) => {
    needs(c.get("permissions"), "ndn.write", "let named data go");
    const id = requireObjectId(c.req.param("id")).id;
    pace.take(OBJECT_RECORD_BYTES);
    return c.json({ id, deleted: releaseAppObject(node, app, id) });
  });
  api.get("/v1/objects/:id", async (c) => {
    needs(c.get("permissions"), "ndn.read", "fetch named data");
    const id = requireObjectId(c.req.param("id")).id;
    await fetchToStore(id, node.store, [
      storeSource(node.store),
      ...node.peers().map((peer) => peerSource(node.client, peer)),
    ]);
    return ndnResponse(node.store, id, c.req.raw);
  });
  // Who may use the app: what a multi-user app needs to keep each person's data apart.
  const people = () => {
    const spec = readSpec(node.db, app);
    if (!spec) return [];
    return [...node.people().people.values()]
      .filter((person) => personMayUseApp(person, reachOf(spec)))
      .map((person) => ({ name: person.name, role: person.role }))
      .sort((a, b) => compareCodeUnits(a.name, b.name));
  };
  api.get("/v1/users", (c) => c.json({ people: people() }));
  api.get("/v1/users/:name", (c) => {
    const person = people().find((p) => p.name === c.req.param("name"));
    if (!person)
      throw new BuckyError(
        "E_NOT_FOUND",
        `no person named ${c.req.param("name")} may use ${app}`,
        "The person signed in is in the Bucky-User header of each request.",
      );
    return c.json(person);
  });
  api.notFound((c) =>
    c.json(
      {
        error: new BuckyError(
          "E_NOT_FOUND",
          `the app API has no ${c.req.method} ${c.req.path}`,
          "See the app API in bucky's README.",
        ).toJSON(),
      },
      404,
    ),
  );

  /** The refusal of a call beyond the app's permissions, saying what it has. */
  function refused(
    permissions: readonly string[],
    access: StateAccess,
    key: string,
    listing = false,
  ): BuckyError {
    const granted = statePrefixes(permissions, app, access);
    const what = listing ? `list the keys under "${key}"` : `${access} the state key ${key}`;
    return new BuckyError(
      "E_PERMISSION",
      `${app} may not ${what}: ${
        granted.length > 0
          ? `its manifest lets it ${access} under ${granted.join(", ")} only`
          : `its manifest gives it no state.${access} permission`
      }`,
      `An app that needs it lists the permission in bucky-app.json (state.${access}, or state.${access}:apps/<prefix>/) and is installed again.`,
    );
  }

  function needs(permissions: readonly string[], permission: string, what: string): void {
    if (!permissions.includes(permission))
      throw new BuckyError(
        "E_PERMISSION",
        `${app} may not ${what}: its manifest does not list ${permission}`,
        `An app that needs it lists "${permission}" in the permissions of its bucky-app.json and is installed again.`,
      );
  }

  return api;
}

/**
 * The permissions a call may use: those its token carries that the app's installed
 * manifest still lists. Refused (E_PERMISSION) without this device's token for this app,
 * of the version it runs (`running`: while an upgrade waits, the version before goes on,
 * and was refused every call, whoami too, for as long as the wait lasted).
 */
function permissionsOf(
  node: NodeContext,
  app: string,
  running: string | undefined,
  authorization: string | undefined,
) {
  const token = /^Bearer\s+(\S+)$/i.exec(authorization ?? "")?.[1];
  if (!token)
    throw new BuckyError(
      "E_PERMISSION",
      `${app}'s app API answers only with its token`,
      "Send it in each request: Authorization: Bearer $BUCKY_APP_TOKEN.",
    );
  let claims: ReturnType<typeof verifyAppToken>;
  try {
    claims = verifyAppToken(token, node.zoneId, node.deviceId);
  } catch (error) {
    if (!(error instanceof ProtocolError)) throw error;
    throw new BuckyError("E_PERMISSION", `the token does not work here: ${error.message}`);
  }
  if (claims.app !== app)
    throw new BuckyError(
      "E_PERMISSION",
      `this is ${app}'s app API, and the token is ${claims.app}'s`,
      "Each app calls its own API, with its own token.",
    );
  const spec = readSpec(node.db, app);
  if (spec?.desired !== "running" || (running ?? spec.version) !== claims.version)
    throw new BuckyError(
      "E_PERMISSION",
      `the token is for ${app} ${claims.version}, which is not the version ${running === undefined ? "installed to run" : "running here"}`,
    );
  return claims.permissions.filter((permission) => spec.manifest.permissions.includes(permission));
}

function keyIn(path: string): string {
  try {
    return decodeURIComponent(path.slice(STATE_PREFIX.length));
  } catch {
    throw new BuckyError("E_INVALID_INPUT", "the key is not properly percent-encoded");
  }
}

export interface RunningAppApi {
  stop(): void;
}

/**
 * Serves `app`'s API on the socket `path`: only the app's own group (its user's, when
 * bucky runs as root) and bucky may connect.
 */
export function serveAppApi(
  node: NodeContext,
  launched: { readonly app: string; readonly version: string },
  path: string,
  user: AppUser | undefined,
  onBug: (error: unknown) => void,
): RunningAppApi {
  // One API, and so one pace, for as long as the app runs here: the runner restarts a
  // process that exits behind the same socket, so an app that exits after its burst is
  // given no new one.
  const api = createAppApi(node, launched.app, node.log, onBug, { running: launched.version });
  rmSync(path, { force: true });
  const server = Bun.serve({
    unix: path,
    maxRequestBodySize: MAX_OBJECT_BYTES + 64 * 1024,
    fetch: (request) => api.fetch(request),
  });
  if (user) {
    chownSync(path, 0, user.gid);
    chmodSync(path, 0o660);
  } else {
    chmodSync(path, 0o600);
  }
  return {
    stop() {
      server.stop(true);
      rmSync(path, { force: true });
    },
  };
}
