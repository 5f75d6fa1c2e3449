/**
 * Where an app's records are in the zone state (lib/apps/spec.ts says what each holds), in
 * a module of its own: the spec and what is kept beside it (spec-acts.ts) both name them.
 */

/** Apps belong to a user of the zone; until zones have several users, the owner. */
export const APP_USER = "owner";

export const appKeys = {
  spec: (app: string) => `users/${APP_USER}/apps/${app}/spec`,
  specPrefix: `users/${APP_USER}/apps/`,
  /** The owner's limits for an app, the record of both (lib/gateway/owner-limits.ts). */
  limits: (app: string) => `users/${APP_USER}/apps/${app}/limits`,
  /** One of the owner's limits for an app, under a key of its own (owner-limits.ts). */
  limit: (app: string, limit: "rps" | "bandwidth") =>
    `users/${APP_USER}/apps/${app}/limits/${limit}`,
  arrived: (app: string) => `users/${APP_USER}/apps/${app}/arrived`,
  rolledBack: (app: string) => `users/${APP_USER}/apps/${app}/rolled-back`,
  /** The app's install, as the install or upgrade wrote its spec (install-record.ts). */
  install: (app: string) => `users/${APP_USER}/apps/${app}/install`,
  /** A person's start or stop of the app's install (spec-acts.ts). */
  desired: (app: string) => `users/${APP_USER}/apps/${app}/desired`,
  /** A person's removal of the app's install (spec-acts.ts). */
  removed: (app: string) => `users/${APP_USER}/apps/${app}/removed`,
  /** A person's move of the app's install (spec-acts.ts). */
  move: (app: string) => `users/${APP_USER}/apps/${app}/move`,
  /** Whom the owner shared the app's install with (spec-acts.ts). */
  share: (app: string) => `users/${APP_USER}/apps/${app}/share`,
  /** A conflict copy of the app's data the owner asked back (spec-acts.ts). */
  restoreCopy: (app: string) => `users/${APP_USER}/apps/${app}/restore-copy`,
  report: (device: string, app: string) => `nodes/${device}/apps/${app}`,
} as const;
