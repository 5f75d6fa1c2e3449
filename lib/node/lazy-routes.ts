/**
 * Routes whose module is loaded when a request first asks for one of them. The build is
 * split into chunks, so the code of such routes (and all it alone imports: the app store's
 * catalogs and both languages' texts, the backup commands' word list) stays out of a
 * daemon nobody asks, which is most of them (bench/memory.ts: 0.4–1.4 MB of an idle
 * daemon's RSS for the app store's and backups' routes and image installs together).
 *
 * They answer as if mounted with `app.route(prefix, routes)`: the same paths, and what
 * they throw reaches the app's own error handler, with the app's request log; a path
 * under the prefix that none of them serves gets the app's own not-found answer.
 */
import { type Context, Hono } from "hono";

/** The answer the routes give a path they do not serve: the app's own answer is given. */
const UNSERVED = new Response(null, { status: 404 });

export function lazyRoutes(app: Hono, prefix: string, load: () => Promise<Hono>): void {
  let mounted: Promise<Hono> | undefined;
  const mount = async (): Promise<Hono> => {
    const routes = await load();
    const inner = new Hono();
    inner.route(prefix, routes);
    // Thrown out of the inner app, to the outer app's handler (with its request log).
    inner.onError((error) => {
      throw error;
    });
    inner.notFound(() => UNSERVED);
    return inner;
  };
  const serve = async (c: Context): Promise<Response> => {
    mounted ??= mount();
    const response = await (await mounted).fetch(c.req.raw, c.env);
    return response === UNSERVED ? c.notFound() : response;
  };
  app.all(prefix, serve);
  app.all(`${prefix}/*`, serve);
}
