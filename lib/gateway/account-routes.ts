/**
 * The gateway's pages for people: signing in (a password, or a passkey's two steps),
 * opening an enrollment link (a password, or a passkey's two steps), signing out (this
 * session, or every session of the person's), and a signed-in person's own account
 * (changing their password).
 * These pages answer on the zone's own host name only (where the session cookie covers
 * every app, and where passkeys belong): reached another way, a page sends the browser
 * there first. A form or a step posted from another site is refused; a passkey step's
 * body is JSON, which another site cannot send without asking first.
 */

import type { UserName } from "../../protocol/accounts.ts";
import { BuckyError } from "../errors.ts";
import type { Messages } from "../i18n/messages.ts";
import type { Log } from "../log.ts";
import type { NodeContext } from "../node/node-context.ts";
import { PERSON_SESSION_TTL_S, type SessionCheck } from "../users/sessions.ts";
import { type Place, SignIn, TooManyAttempts } from "../users/signin.ts";
import {
  enrolledHerePage,
  enrollPage,
  ownAccountPage,
  passwordChangedPage,
  refusedPage,
  signInPage,
} from "./account-pages.ts";
import { type GatewayConfig, gatewayBase } from "./config.ts";
import {
  askFellow,
  ceremonyGatewayOf,
  type FellowAnswer,
  type FellowStep,
  fellowOf,
} from "./fellow-sign-in.ts";
import { page, wordsFor } from "./pages.ts";
import { fromAnotherSite } from "./request-origin.ts";
import { ACCOUNT_PATH, ENROLL_PATH, SIGNIN_PATH, SIGNOUT_PATH } from "./routing.ts";
import {
  acceptLogin,
  checkSession,
  isSameOriginPath,
  SESSION_COOKIE,
  signOut,
} from "./sessions.ts";

/** The most an account form or step may send. */
const MAX_BODY_BYTES = 64 * 1024;

export interface AccountRequest {
  readonly request: Request;
  readonly url: URL;
  /** The canonical path (lib/gateway/request-target.ts). */
  readonly path: string;
  readonly hostHeader: string;
  readonly client: string;
  /** Whether it came over HTTPS: the origin passkeys are bound to, and a Secure cookie. */
  readonly secure: boolean;
}

export class AccountRoutes {
  private readonly signIn: SignIn;

  constructor(
    private readonly node: NodeContext,
    private readonly config: GatewayConfig,
    private readonly log: Log,
    /** Checks people's sessions: a sign-out ends only a session that stands. */
    private readonly people: SessionCheck,
  ) {
    this.signIn = new SignIn(node, log);
  }

  async handle(at: AccountRequest): Promise<Response> {
    const host = at.hostHeader.toLowerCase().replace(/:\d*$/, "").replace(/\.$/, "");
    const { method } = at.request;
    const words = await wordsFor(at.request);
    const said = words.accountPages;
    if (this.config.host && host !== this.config.host) {
      if (method !== "GET")
        return refusedPage(words, 400, said.wrongAddress, said.openAt({ host: this.config.host }));
      return new Response(null, {
        status: 303,
        headers: {
          location: `${gatewayBase(this.config)}${at.path}${at.url.search}`,
          "cache-control": "no-store",
        },
      });
    }
    const scheme = at.secure ? "https" : "http";
    const place: Place = {
      client: at.client,
      origin: `${scheme}://${at.hostHeader.toLowerCase()}`,
      rpId: this.config.host,
    };
    if (method === "POST") {
      if (fromAnotherSite(at.request, at.hostHeader, at.secure))
        return refusedPage(words, 403, said.refused, said.fromAnotherSite);
    } else if (method !== "GET") {
      return refusedPage(words, 405, said.notHere, said.notAWay({ method }));
    }
    try {
      return await this.route(at, place, words);
    } catch (error) {
      return this.failed(error, at, words);
    }
  }

  private async route(at: AccountRequest, place: Place, words: Messages): Promise<Response> {
    const post = at.request.method === "POST";
    const zone = this.node.zone.zone.name;
    const passkeys = place.rpId !== null;
    switch (`${at.request.method} ${at.path}`) {
      case `GET ${SIGNIN_PATH}`:
        return signInPage(words, {
          zone,
          next: nextOf(at.url.searchParams.get("next")),
          passkeys,
        });
      case `POST ${SIGNIN_PATH}`: {
        const form = await this.form(at.request);
        const name = form.get("name") ?? "";
        const next = nextOf(form.get("next") ?? null);
        try {
          const cookie = await this.signIn.withPassword(name, form.get("password") ?? "", place);
          return this.signedIn(cookie, next, at.secure);
        } catch (error) {
          if (!(error instanceof BuckyError) || error.code !== "E_PERMISSION") throw error;
          return signInPage(words, {
            zone,
            next,
            passkeys,
            name,
            error: error.message,
            status: 403,
          });
        }
      }
      case `POST ${SIGNIN_PATH}/passkey/options`: {
        const body = await this.json(at.request);
        return Response.json(await this.signIn.passkeyOptions(String(body.name ?? ""), place));
      }
      case `POST ${SIGNIN_PATH}/passkey`: {
        const body = await this.json(at.request);
        const step = {
          kind: "passkey",
          ceremony: String(body.ceremony ?? ""),
          response: body.response,
          place,
        } as const;
        const answer = await this.whereBegun(step);
        if (!("cookie" in answer))
          throw new BuckyError("E_INTERNAL", "a sign-in answered no session");
        const { cookie } = answer;
        return Response.json(
          { next: nextOf(typeof body.next === "string" ? body.next : null) },
          {
            headers: { "set-cookie": this.cookie(cookie, at.secure), "cache-control": "no-store" },
          },
        );
      }
      case `GET ${ENROLL_PATH}`: {
        const token = at.url.searchParams.get("token") ?? "";
        const { enrollment } = this.signIn.enrollments.open(token);
        return enrollPage(words, { zone, user: enrollment.user, token, passkeys });
      }
      case `POST ${ENROLL_PATH}`: {
        const form = await this.form(at.request);
        const token = form.get("token") ?? "";
        const password = form.get("password") ?? "";
        if (password !== form.get("confirm")) {
          const { enrollment } = this.signIn.enrollments.open(token);
          return enrollPage(words, {
            zone,
            user: enrollment.user,
            token,
            passkeys,
            error: words.accountPages.passwordsDiffer,
            status: 400,
          });
        }
        try {
          const cookie = await this.signIn.enrollPassword(token, password, place);
          // Said done only once it outlives this gateway: lost with it, the account would
          // not open at any other, and its link, opened again there, counts as used twice.
          if ((await this.node.untilHeldElsewhere("an enrollment")) !== "not yet")
            return this.signedIn(cookie, "/", at.secure);
          return enrolledHerePage(words, {
            "set-cookie": this.cookie(cookie, at.secure),
            "cache-control": "no-store",
          });
        } catch (error) {
          if (!(error instanceof BuckyError) || error.code !== "E_INVALID_INPUT") throw error;
          const { enrollment } = this.signIn.enrollments.open(token);
          return enrollPage(words, {
            zone,
            user: enrollment.user,
            token,
            passkeys,
            error: error.message,
            status: 400,
          });
        }
      }
      case `POST ${ENROLL_PATH}/passkey/options`: {
        const body = await this.json(at.request);
        return Response.json(
          await this.signIn.enrollPasskeyOptions(String(body.token ?? ""), place),
        );
      }
      case `POST ${ENROLL_PATH}/passkey`: {
        const body = await this.json(at.request);
        return Response.json(
          await this.whereBegun({
            kind: "enroll-passkey",
            ceremony: String(body.ceremony ?? ""),
            response: body.response,
            place,
          }),
        );
      }
      case `POST ${SIGNOUT_PATH}`: {
        // Ended on every gateway of the zone, not only forgotten by this browser.
        const form = await this.form(at.request);
        const held = await signOut(
          this.node,
          at.request.headers.get("cookie"),
          this.people,
          form.get("everywhere") === "1",
        );
        const forgotten = this.cookie("", at.secure, 0);
        // Ended here only, for now: the person must know the other gateways may take it.
        if (held === "not yet")
          return page(
            words,
            200,
            words.gatewayPages.signedOut,
            [words.gatewayPages.signOutNotHeldYet, { text: words.gatewayPages.toStart, href: "/" }],
            { "set-cookie": forgotten },
          );
        return new Response(null, {
          status: 303,
          headers: { location: "/", "set-cookie": forgotten, "cache-control": "no-store" },
        });
      }
      case `GET ${ACCOUNT_PATH}`: {
        const user = await this.signedInPerson(at.request);
        if (!user) return this.toSignIn();
        return ownAccountPage(words, { user, hasPassword: this.signIn.hasPassword(user) });
      }
      case `POST ${ACCOUNT_PATH}/password`: {
        const user = await this.signedInPerson(at.request);
        if (!user) return this.toSignIn();
        const form = await this.form(at.request);
        const password = form.get("password") ?? "";
        const again = (error: string, status: number) =>
          ownAccountPage(words, {
            user,
            hasPassword: this.signIn.hasPassword(user),
            error,
            status,
          });
        if (password !== form.get("confirm")) return again(words.accountPages.passwordsDiffer, 400);
        let cookie: string;
        try {
          cookie = await this.signIn.changePassword(
            user as UserName,
            form.get("current") ?? "",
            password,
            place,
          );
        } catch (error) {
          if (
            !(error instanceof BuckyError) ||
            (error.code !== "E_PERMISSION" && error.code !== "E_INVALID_INPUT")
          )
            throw error;
          return again(error.message, error.httpStatus);
        }
        // Said done only once it outlives this gateway: lost with it, the old password
        // would go on working at every other gateway.
        const held = await this.node.untilHeldElsewhere(`password change of ${user}`);
        return passwordChangedPage(words, held === "not yet", {
          "set-cookie": this.cookie(cookie, at.secure),
        });
      }
      default:
        return refusedPage(
          words,
          post ? 405 : 404,
          words.accountPages.noSuchPage,
          words.accountPages.notAPage,
        );
    }
  }

  /** The person whose session the request carries, if it carries one that stands. */
  private async signedInPerson(request: Request): Promise<string | undefined> {
    const checked = await checkSession(this.node, request.headers.get("cookie"), this.people);
    return "viewer" in checked && checked.viewer.kind === "person"
      ? checked.viewer.user
      : undefined;
  }

  /** To the sign-in page, and back to the account page after. */
  private toSignIn(): Response {
    return new Response(null, {
      status: 303,
      headers: {
        location: `${SIGNIN_PATH}?next=${encodeURIComponent(ACCOUNT_PATH)}`,
        "cache-control": "no-store",
      },
    });
  }

  /** After signing in: the cookie, and on to where the person was going. */
  private signedIn(cookie: string, next: string, secure: boolean): Response {
    return new Response(null, {
      status: 303,
      headers: {
        location: next,
        "set-cookie": this.cookie(cookie, secure),
        "cache-control": "no-store",
      },
    });
  }

  /** The session cookie, as a login link sets it (lib/gateway/server.ts). */
  private cookie(value: string, secure: boolean, maxAgeS = PERSON_SESSION_TTL_S): string {
    const attributes = [
      `${SESSION_COOKIE}=${value}`,
      "Path=/",
      "HttpOnly",
      "SameSite=Lax",
      `Max-Age=${maxAgeS}`,
    ];
    if (this.config.host) attributes.push(`Domain=${this.config.host}`);
    // Over HTTPS the cookie never travels in the clear (a plain listener only redirects then).
    if (secure) attributes.push("Secure");
    return attributes.join("; ");
  }

  private failed(error: unknown, at: AccountRequest, words: Messages): Response {
    const said = words.accountPages;
    const json = at.request.headers.get("content-type")?.startsWith("application/json") ?? false;
    if (error instanceof TooManyAttempts) {
      const headers = { "retry-after": String(error.retryAfterS) };
      return json
        ? Response.json(
            { error: { code: "E_UNAVAILABLE", message: error.message } },
            { status: 429, headers },
          )
        : refusedPage(words, 429, said.tooManyAttempts, error.message, undefined, headers);
    }
    if (!(error instanceof BuckyError)) throw error;
    // What a library said of it (the WebAuthn verifier's words) is for the log, not the page.
    if (error.cause !== undefined)
      this.log.warn("account step refused", {
        path: at.path,
        client: at.client,
        code: error.code,
        error: error.message,
        cause: String((error.cause as Error)?.message ?? error.cause),
      });
    if (json) return Response.json({ error: error.toJSON() }, { status: error.httpStatus });
    const title = at.path.startsWith(ENROLL_PATH) ? said.linkBroken : said.signInRefused;
    return refusedPage(words, error.httpStatus, title, error.message, error.hint);
  }

  /**
   * A step of signing in that another gateway of the zone carried here (the browser was
   * sent there by the zone's name): taken as if it had come here.
   */
  async answerFellow(step: FellowStep): Promise<FellowAnswer> {
    switch (step.kind) {
      case "login":
        return acceptLogin(this.node, step.token);
      case "passkey":
        return {
          cookie: await this.signIn.passkeyFinish(step.ceremony, step.response, step.place),
        };
      case "enroll-passkey": {
        const { user } = await this.signIn.enrollPasskeyFinish(
          step.ceremony,
          step.response,
          step.place,
        );
        // As a password's enrollment: the page tells the person when this gateway alone
        // holds it (the gateway that wrote it waits, wherever the browser landed).
        return { user, heldElsewhere: await this.node.untilHeldElsewhere("an enrollment") };
      }
    }
  }

  /** A passkey's last step, taken where its ceremony began: here, or the gateway it names. */
  private whereBegun(step: FellowStep & { readonly kind: "passkey" | "enroll-passkey" }) {
    const fellow = fellowOf(this.node, ceremonyGatewayOf(step.ceremony));
    return fellow ? askFellow(this.node, fellow, step) : this.answerFellow(step);
  }

  private async form(request: Request): Promise<Map<string, string>> {
    const text = await boundedText(request);
    return new Map(new URLSearchParams(text));
  }

  private async json(request: Request): Promise<Record<string, unknown>> {
    if (!request.headers.get("content-type")?.startsWith("application/json"))
      throw new BuckyError("E_USAGE", "this step takes JSON (content-type: application/json)");
    try {
      const value: unknown = JSON.parse(await boundedText(request));
      if (typeof value === "object" && value !== null && !Array.isArray(value))
        return value as Record<string, unknown>;
    } catch {
      // Said below.
    }
    throw new BuckyError("E_USAGE", "the body is not a JSON object");
  }
}

/** Where to go once signed in: a path on this gateway, else the start page. */
function nextOf(next: string | null): string {
  return next && isSameOriginPath(next) ? next : "/";
}

async function boundedText(request: Request): Promise<string> {
  if (Number(request.headers.get("content-length") ?? 0) > MAX_BODY_BYTES)
    throw new BuckyError("E_USAGE", `at most ${MAX_BODY_BYTES} bytes here`);
  const chunks: Uint8Array[] = [];
  let size = 0;
  if (request.body)
    for await (const chunk of request.body) {
      size += chunk.length;
      if (size > MAX_BODY_BYTES)
        throw new BuckyError("E_USAGE", `at most ${MAX_BODY_BYTES} bytes here`);
      chunks.push(chunk);
    }
  return Buffer.concat(chunks).toString("utf8");
}
