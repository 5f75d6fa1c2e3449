/**
 * What every page of the panel is made with: the local API, the viewer, their language,
 * and how to answer: a page in the frame, a live part alone, or a redirect after an
 * action that leaves a notice for the next page (in a short-lived cookie sealed for the
 * session, never in the address, so no link and no app's script can put words in the
 * panel's mouth: notice-cookie.ts).
 */
import type { Context } from "hono";
import type { Child } from "hono/jsx";
import { languageOfAcceptLanguage } from "../i18n/language.ts";
import { messagesFor } from "../i18n/messages.ts";
import type { ApiResult, LocalApi } from "../node/local-client.ts";
import type { Viewer } from "../users/access.ts";
import type { ZoneStatus } from "../zone/status.ts";
import { asksForCommand, type Locale, LocaleContext } from "./components.tsx";
import { notHeldYetNote } from "./held-notes.ts";
import { href, Layout, type Notice } from "./layout.tsx";
import {
  NOTICE_TTL_S,
  noticeClearingCookies,
  noticeOfCookies,
  noticeSetCookie,
  sealNotice,
} from "./notice-cookie.ts";

/**
 * Whose session the panel serves a request for, and its id (lib/users/signouts.ts): the
 * gateway says.
 */
/** Whose session a request is of, its id, and the key its notices are sealed with (notice-cookie.ts). */
export type PanelEnv = { Bindings: { viewer: Viewer; sessionId: string; noticeKey: Uint8Array } };
export type PanelContext = Context<PanelEnv>;

/**
 * The most a notice's JSON may take, in UTF-8: as base64 (4/3 of it) with its expiry, its
 * mac, the cookie's name and attributes, well under the 4096 bytes a browser keeps of a
 * cookie (about 3900).
 */
const NOTICE_MAX_BYTES = 2800;

export interface Page {
  readonly api: LocalApi;
  readonly locale: Locale;
  readonly viewer: Viewer;
  /** A whole page in the frame. */
  render(
    section: string,
    title: string,
    body: Child,
    options?: { live?: boolean; status?: number },
  ): Promise<Response>;
  /** A live part alone (for the script), saying whether the work it follows goes on. */
  part(body: Child, running: boolean): Promise<Response>;
  /**
   * Back to `path` after an action, with how it went: `ok` if it did (and, if the answer
   * says no other device holds the write yet, that it does not), else the API's error.
   */
  back(path: string, result: ApiResult<unknown>, ok: string): Response;
  /** Back to `path` with an error of the panel's own. */
  refuse(path: string, text: string): Response;
}

export function pageFor(c: PanelContext, shared: LocalApi): Page {
  const language = languageOfAcceptLanguage(c.req.header("accept-language"));
  const locale: Locale = { t: messagesFor(language), language, nowMs: Date.now() };
  const viewer = c.env.viewer;
  // What a person asks for, the local API checks against their rights, not the device's.
  const api = viewer.kind === "person" ? shared.actingFor(viewer.user) : shared;
  const redirect = (path: string, notice: Notice) => {
    const value = sealNotice(
      c.env.noticeKey,
      c.env.sessionId,
      fitted(notice),
      Date.now() + NOTICE_TTL_S * 1000,
    );
    return new Response(null, {
      status: 303,
      headers: { location: href(path), "set-cookie": noticeSetCookie(value) },
    });
  };
  return {
    api,
    locale,
    viewer,
    async render(section, title, body, options = {}) {
      const status = await api.get<ZoneStatus>("/v1/status");
      // Read once: the page clears it, and clears one not ours (planted) as well.
      const { came, notice } = noticeOfCookies(
        c.env.noticeKey,
        c.env.sessionId,
        c.req.header("cookie"),
        Date.now(),
      );
      const page = (
        <Layout
          title={title}
          section={section}
          zone={status.ok ? status.data.zone.name : "bucky"}
          viewer={viewer}
          locale={locale}
          notice={notice}
          live={options.live ?? false}
        >
          {body}
        </Layout>
      );
      const response = c.html(
        `<!doctype html>${await page.toString()}`,
        (options.status ?? 200) as 200,
      );
      response.headers.set("vary", "accept-language, cookie");
      if (came)
        for (const cleared of noticeClearingCookies(new URL(c.req.url).hostname))
          response.headers.append("set-cookie", cleared);
      return response;
    },
    async part(body, running) {
      const html = await (
        <LocaleContext.Provider value={locale}>{body}</LocaleContext.Provider>
      ).toString();
      return new Response(html, {
        headers: {
          "content-type": "text/html; charset=utf-8",
          "cache-control": "no-store",
          "x-bucky-live": running ? "running" : "done",
          vary: "accept-language",
        },
      });
    },
    back(path, result, ok) {
      if (result.ok) {
        const note = notHeldYetNote(result.data, locale.t);
        return redirect(path, { kind: "ok", text: ok, ...(note ? { hint: note } : {}) });
      }
      const { message, hint } = result.error;
      return redirect(path, {
        kind: "error",
        text: message,
        ...(hint && !asksForCommand(hint) ? { hint } : {}),
      });
    },
    refuse(path, text) {
      return redirect(path, { kind: "error", text });
    },
  };
}

/**
 * The notice, its hint then its text cut short (with "…") until its JSON fits a cookie: a
 * notice cut anywhere else would not parse, and one too large is not kept, and either way
 * the next page would say nothing of what happened.
 */
function fitted(notice: Notice): Notice {
  const size = (n: Notice) => Buffer.byteLength(JSON.stringify(n));
  let fit = notice;
  if (fit.hint !== undefined && size(fit) > NOTICE_MAX_BYTES) {
    const { hint: _hint, ...withoutHint } = fit;
    fit = withoutHint;
  }
  // A character is 1 to 3 bytes of JSON (6 escaped): each pass drops a third of the excess or more.
  while (size(fit) > NOTICE_MAX_BYTES) {
    const excess = size(fit) - NOTICE_MAX_BYTES;
    const keep = Math.max(0, [...fit.text].length - Math.ceil(excess / 3) - 1);
    fit = { ...fit, text: `${[...fit.text].slice(0, keep).join("")}…` };
  }
  return fit;
}
