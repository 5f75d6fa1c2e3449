/**
 * The gateway's own pages: short, plain HTML that says what happened and what to do, in
 * the language the browser asks for (Accept-Language: English or Simplified Chinese, as
 * the panel). Their words are the catalogs' (lib/i18n/), loaded with the first page the
 * gateway makes: most requests never need one, and an idle daemon does not hold them.
 * Every value shown is escaped.
 */
import { languageOfAcceptLanguage } from "../i18n/language.ts";
import type { Messages } from "../i18n/messages.ts";

let catalogs: Promise<typeof import("../i18n/messages.ts")> | undefined;

/** The words for the language `request` asks for; English when no request is known. */
export async function wordsFor(request: Request | undefined): Promise<Messages> {
  catalogs ??= import("../i18n/messages.ts");
  const language = languageOfAcceptLanguage(request?.headers.get("accept-language"));
  return (await catalogs).messagesFor(language);
}

/**
 * A line of a page: a catalog's text (`code` in backquotes is shown as code); with
 * `href`, the words of its text in [brackets] link there; or HTML its caller built from
 * escaped parts.
 */
export type Line =
  | string
  | { readonly text: string; readonly href: string }
  | { readonly html: string };

export function page(
  words: Messages,
  status: number,
  title: string,
  lines: readonly Line[],
  headers: Record<string, string> = {},
): Response {
  const body = `<!doctype html>
<html lang="${words.language}"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>${escapeHtml(title)}</title>
<style>body{font:16px/1.5 system-ui,sans-serif;max-width:36rem;margin:3rem auto;padding:0 1rem;color:#222}h1{font-size:1.4rem}code{background:#eee;padding:0 .2rem}</style>
</head><body><h1>${escapeHtml(title)}</h1>${lines.map((line) => `<p>${lineHtml(line)}</p>`).join("")}
<p><small>${escapeHtml(words.gatewayPages.footer)}</small></p></body></html>
`;
  return new Response(body, {
    status,
    headers: {
      "content-type": "text/html; charset=utf-8",
      "content-length": String(Buffer.byteLength(body)),
      "cache-control": "no-store",
      // No script, ever: the pages show values others wrote (an app's error a device
      // reported, a rule, a name), each escaped, and this keeps one that a slip let through
      // inert. Served on the apps' own origin, it would otherwise run as any of them.
      "content-security-policy":
        "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
      // Never in a frame: the start page has a sign-out button, and an app's page could
      // frame it out of sight and have the person's click land on it.
      "x-frame-options": "DENY",
      // Its words follow the browser's languages.
      vary: "accept-language",
      ...headers,
    },
  });
}

function lineHtml(line: Line): string {
  if (typeof line === "string") return textHtml(line);
  if ("html" in line) return line.html;
  return textHtml(line.text).replace(
    /\[([^\]]+)\]/,
    (_, words: string) => `<a href="${escapeHtml(line.href)}">${words}</a>`,
  );
}

/** A catalog's text as HTML: escaped, `code` in backquotes shown as code. */
export function textHtml(text: string): string {
  return escapeHtml(text)
    .replace(/`([^`]+)`/g, "<code>$1</code>")
    .replaceAll(LITERAL_BACKQUOTE, "&#96;");
}

/** Stands for a backquote of a value's own (literal): shown as one, never as code. */
const LITERAL_BACKQUOTE = "\uE000";

/**
 * A value others wrote (an app's error as its device reports it), for a catalog's text:
 * its backquotes stay backquotes, so it cannot dress its words as the gateway's advice.
 */
export function literal(value: string): string {
  return value.replaceAll("`", LITERAL_BACKQUOTE);
}

export function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (ch) => `&#${ch.charCodeAt(0)};`);
}
