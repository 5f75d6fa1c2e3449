/**
 * A client of the daemon's local HTTP API (the one the CLI uses), for the control panel
 * and the agents' tools: in process, or over the home's Unix socket. An error comes back
 * as the API's own (code, message, hint), to be shown as it is.
 */
export type ApiFetch = (request: Request) => Response | Promise<Response>;

export interface ApiError {
  readonly code: string;
  readonly message: string;
  readonly hint?: string;
}

export type ApiResult<T> =
  | { readonly ok: true; readonly data: T }
  | { readonly ok: false; readonly error: ApiError };

/**
 * The person a request of the panel acts for. Only ever narrows what a request may do (the
 * local API's callers otherwise hold the device's keys), so no caller gains by setting it.
 */
export const ACTING_FOR_HEADER = "bucky-acting-for";

export class LocalApi {
  constructor(private readonly fetch: ApiFetch) {}

  /** The same API, each request saying it acts for `user` (a person signed in to the panel). */
  actingFor(user: string): LocalApi {
    return new LocalApi((request) => {
      const headers = new Headers(request.headers);
      headers.set(ACTING_FOR_HEADER, user);
      return this.fetch(new Request(request, { headers }));
    });
  }

  get<T>(path: string): Promise<ApiResult<T>> {
    return this.call<T>("GET", path);
  }

  post<T>(path: string, body?: unknown): Promise<ApiResult<T>> {
    return this.call<T>("POST", path, body);
  }

  put<T>(path: string, body?: unknown): Promise<ApiResult<T>> {
    return this.call<T>("PUT", path, body);
  }

  delete<T>(path: string): Promise<ApiResult<T>> {
    return this.call<T>("DELETE", path);
  }

  /** The API's answer as it is (bytes: an icon, a file of a snapshot), for a GET. */
  raw(path: string): Promise<Response> {
    return Promise.resolve(this.fetch(new Request(`http://bucky${path}`)));
  }

  /** Sends raw bytes (an uploaded archive), whole or as they arrive. */
  async upload<T>(
    path: string,
    body: Uint8Array | ReadableStream<Uint8Array>,
  ): Promise<ApiResult<T>> {
    return this.parse<T>(
      await this.fetch(new Request(`http://bucky${path}`, { method: "POST", body })),
    );
  }

  private async call<T>(method: string, path: string, body?: unknown): Promise<ApiResult<T>> {
    const request = new Request(`http://bucky${path}`, {
      method,
      ...(body === undefined
        ? {}
        : { body: JSON.stringify(body), headers: { "content-type": "application/json" } }),
    });
    return this.parse<T>(await this.fetch(request));
  }

  private async parse<T>(response: Response): Promise<ApiResult<T>> {
    const value = (await response.json()) as T & { error?: ApiError };
    if (response.ok) return { ok: true, data: value };
    return {
      ok: false,
      error: value.error ?? { code: "E_INTERNAL", message: `HTTP ${response.status}` },
    };
  }
}
