/**
 * The pages people sign in and enroll on. Plain forms for passwords (no script needed);
 * a passkey needs the browser's WebAuthn, so these pages carry one small script of their
 * own, the only one their Content-Security-Policy allows (by its hash), and are never
 * framed by another site. Every value shown is escaped.
 */
import { createHash } from "node:crypto";
import type { Messages } from "../i18n/messages.ts";
import { escapeHtml, textHtml } from "./pages.ts";
import { ACCOUNT_PATH, ENROLL_PATH, PANEL_PATH, SIGNIN_PATH, SIGNOUT_PATH } from "./routing.ts";

/**
 * Runs a passkey's steps: the button says which, the server says everything else. Its own
 * words are the page's, in the status line's data (one script, one hash, every language).
 */
const SCRIPT = `(() => {
  const button = document.querySelector("[data-passkey]");
  const status = document.getElementById("passkey-status");
  if (!button || !status) return;
  const say = (text) => { status.textContent = text; };
  const pkc = window.PublicKeyCredential;
  if (!pkc || !pkc.parseRequestOptionsFromJSON || !window.isSecureContext) {
    button.disabled = true;
    say(status.dataset.unsupported);
    return;
  }
  const post = async (path, body) => {
    const response = await fetch(path, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify(body),
    });
    const answer = await response.json();
    if (!response.ok) throw new Error((answer.error && answer.error.message) || "HTTP " + response.status);
    return answer;
  };
  const signIn = async (name, next) => {
    const begun = await post("${SIGNIN_PATH}/passkey/options", { name });
    const credential = await navigator.credentials.get({ publicKey: pkc.parseRequestOptionsFromJSON(begun.options) });
    const done = await post("${SIGNIN_PATH}/passkey", { ceremony: begun.ceremony, response: credential.toJSON(), next });
    return done.next;
  };
  button.addEventListener("click", async (event) => {
    event.preventDefault();
    try {
      say(status.dataset.waiting);
      if (button.dataset.passkey === "enroll") {
        const begun = await post("${ENROLL_PATH}/passkey/options", { token: button.dataset.token });
        const credential = await navigator.credentials.create({ publicKey: pkc.parseCreationOptionsFromJSON(begun.options) });
        const made = await post("${ENROLL_PATH}/passkey", { ceremony: begun.ceremony, response: credential.toJSON() });
        say(status.dataset.saved);
        const next = await signIn(made.user, "/");
        // Held by this gateway alone for now: said, and kept on screen, not navigated away.
        if (made.heldElsewhere === "not yet") {
          status.setAttribute("role", "alert");
          status.className = "error";
          say(status.dataset.notHeld);
        } else location.assign(next);
      } else {
        const name = document.querySelector("input[name=name]").value;
        location.assign(await signIn(name, button.dataset.next));
      }
    } catch (error) {
      say(error && error.message ? error.message : String(error));
    }
  });
})();`;

const SCRIPT_HASH = createHash("sha256").update(SCRIPT).digest("base64");

const STYLE =
  "body{font:16px/1.5 system-ui,sans-serif;max-width:30rem;margin:3rem auto;padding:0 1rem;color:#222}h1{font-size:1.4rem}form{display:grid;gap:.6rem;margin:1rem 0}label{display:grid;gap:.2rem}input,button{font:inherit;padding:.45rem .6rem;border-radius:.4rem;border:1px solid #bbb}button{background:#2563eb;color:#fff;border-color:#2563eb;cursor:pointer}.alt{background:#fff;color:#2563eb}.error{color:#b91c1c}.muted{color:#666}code{background:#eee;padding:0 .2rem}";

/** An account page: its body, the passkey script, and the headers that fence it in. */
function accountPage(
  words: Messages,
  status: number,
  title: string,
  body: string,
  headers: Record<string, string> = {},
): Response {
  const html = `<!doctype html>
<html lang="${words.language}"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>${escapeHtml(title)}</title><style>${STYLE}</style></head>
<body><h1>${escapeHtml(title)}</h1>${body}<script>${SCRIPT}</script>
<p><small class="muted">${escapeHtml(words.gatewayPages.footer)}</small></p></body></html>
`;
  return new Response(html, {
    status,
    headers: {
      "content-type": "text/html; charset=utf-8",
      "content-length": String(Buffer.byteLength(html)),
      "cache-control": "no-store",
      "content-security-policy": `default-src 'none'; script-src 'sha256-${SCRIPT_HASH}'; style-src 'unsafe-inline'; connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'`,
      "x-frame-options": "DENY",
      // Never to another site (the page's address may hold a link's token); a same-site
      // form keeps its Origin, which the gateway checks.
      "referrer-policy": "same-origin",
      // Its words follow the browser's languages.
      vary: "accept-language",
      ...headers,
    },
  });
}

/** Where the passkey script says how it goes, with its words. */
function passkeyStatus(words: Messages): string {
  const said = words.accountPages;
  return `<p id="passkey-status" role="status" data-unsupported="${escapeHtml(said.passkeyUnsupported)}" data-waiting="${escapeHtml(said.passkeyWaiting)}" data-saved="${escapeHtml(said.passkeySaved)}" data-not-held="${escapeHtml(said.enrollNotHeldYet)}"></p>`;
}

/** The sign-in page: a name and a password, or a passkey where the gateway has a name. */
export function signInPage(
  words: Messages,
  options: {
    zone: string;
    next: string;
    passkeys: boolean;
    name?: string;
    error?: string;
    status?: number;
  },
): Response {
  const said = words.accountPages;
  const next = escapeHtml(options.next);
  return accountPage(
    words,
    options.status ?? 200,
    said.signInTo({ zone: options.zone }),
    `${options.error ? `<p class="error" role="alert">${escapeHtml(options.error)}</p>` : ""}
<form method="post" action="${SIGNIN_PATH}">
<input type="hidden" name="next" value="${next}">
<label>${escapeHtml(said.yourName)}<input name="name" autocomplete="username webauthn" autocapitalize="none" required value="${escapeHtml(options.name ?? "")}"></label>
<label>${escapeHtml(said.password)}<input name="password" type="password" autocomplete="current-password"></label>
<button type="submit">${escapeHtml(said.signIn)}</button>
</form>
${
  options.passkeys
    ? `<p><button type="button" class="alt" data-passkey="signin" data-next="${next}">${escapeHtml(said.signInWithPasskey)}</button></p>`
    : `<p class="muted">${escapeHtml(said.passkeysNeedHostName)}</p>`
}
${passkeyStatus(words)}
<p class="muted">${textHtml(said.noWayIn)}</p>`,
  );
}

/** The page an enrollment link opens: set up a passkey, or a password. */
export function enrollPage(
  words: Messages,
  options: {
    zone: string;
    user: string;
    token: string;
    passkeys: boolean;
    error?: string;
    status?: number;
  },
): Response {
  const said = words.accountPages;
  const token = escapeHtml(options.token);
  return accountPage(
    words,
    options.status ?? 200,
    said.welcome({ zone: options.zone, user: options.user }),
    `${options.error ? `<p class="error" role="alert">${escapeHtml(options.error)}</p>` : ""}
<p>${escapeHtml(said.chooseHow)}</p>
${
  options.passkeys
    ? `<p><button type="button" data-passkey="enroll" data-token="${token}">${escapeHtml(said.makePasskey)}</button></p>
${passkeyStatus(words)}
<p class="muted">${escapeHtml(said.orPassword)}</p>`
    : `${passkeyStatus(words)}<p class="muted">${escapeHtml(said.passwordHere)}</p>`
}
<form method="post" action="${ENROLL_PATH}">
<input type="hidden" name="token" value="${token}">
<label>${escapeHtml(said.newPassword)}<input name="password" type="password" autocomplete="new-password" minlength="8" required></label>
<label>${escapeHtml(said.sameAgain)}<input name="confirm" type="password" autocomplete="new-password" minlength="8" required></label>
<button type="submit">${escapeHtml(said.usePassword)}</button>
</form>`,
  );
}

/**
 * A signed-in person's own account: changing their password (given the one they have
 * now), and signing out everywhere.
 */
export function ownAccountPage(
  words: Messages,
  options: { user: string; hasPassword: boolean; error?: string; status?: number },
): Response {
  const said = words.accountPages;
  return accountPage(
    words,
    options.status ?? 200,
    said.yourAccount({ user: options.user }),
    `${options.error ? `<p class="error" role="alert">${escapeHtml(options.error)}</p>` : ""}
<h2>${escapeHtml(said.changePassword)}</h2>
${
  options.hasPassword
    ? `<form method="post" action="${ACCOUNT_PATH}/password">
<label>${escapeHtml(said.currentPassword)}<input name="current" type="password" autocomplete="current-password" required></label>
<label>${escapeHtml(said.newPassword)}<input name="password" type="password" autocomplete="new-password" minlength="8" required></label>
<label>${escapeHtml(said.sameAgain)}<input name="confirm" type="password" autocomplete="new-password" minlength="8" required></label>
<button type="submit">${escapeHtml(said.changePassword)}</button>
</form>`
    : `<p class="muted">${escapeHtml(said.noPasswordToChange)}</p>`
}
<h2>${escapeHtml(said.everywhereTitle)}</h2>
<p>${escapeHtml(said.everywhereText)}</p>
<form method="post" action="${SIGNOUT_PATH}">
<input type="hidden" name="everywhere" value="1">
<button type="submit" class="alt">${escapeHtml(said.signOutEverywhere)}</button>
</form>
<p><a href="${PANEL_PATH}/">${escapeHtml(said.toPanel)}</a></p>`,
  );
}

/**
 * The page after a password change: done everywhere once another device holds it; else
 * done at this gateway alone, and the person told not to change it at another meanwhile
 * (a retry there, from the same old password, forks the change and ends the password for
 * everyone: protocol/password-change.ts).
 */
export function passwordChangedPage(
  words: Messages,
  notHeldYet: boolean,
  headers: Record<string, string>,
): Response {
  const said = words.accountPages;
  const status = notHeldYet
    ? `<p class="error" role="alert">${escapeHtml(said.notHeldYet)}</p>`
    : `<p role="status">${escapeHtml(said.passwordChangedText)}</p>`;
  return accountPage(
    words,
    200,
    notHeldYet ? said.passwordChangedHere : said.passwordChanged,
    `${status}<p><a href="${PANEL_PATH}/">${escapeHtml(said.toPanel)}</a></p>`,
    headers,
  );
}

/**
 * The page after an enrollment held by this gateway alone for now: the person is signed
 * in here, and told what keeps the account (lost with this gateway, it never was).
 */
export function enrolledHerePage(words: Messages, headers: Record<string, string>): Response {
  const said = words.accountPages;
  return accountPage(
    words,
    200,
    said.enrolledHere,
    `<p class="error" role="alert">${escapeHtml(said.enrollNotHeldYet)}</p><p><a href="${PANEL_PATH}/">${escapeHtml(said.toPanel)}</a></p>`,
    headers,
  );
}

/** A page that says an account step did not work, and what to do. */
export function refusedPage(
  words: Messages,
  status: number,
  title: string,
  message: string,
  hint?: string,
  headers: Record<string, string> = {},
): Response {
  return accountPage(
    words,
    status,
    title,
    `<p class="error" role="alert">${textHtml(message)}</p>${hint ? `<p>${textHtml(hint)}</p>` : ""}`,
    headers,
  );
}
