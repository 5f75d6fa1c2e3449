/**
 * The pages people sign in and enroll on. Plain forms for passwords (no script needed);
 * a passkey needs the browser's WebAuthn, so these pages carry one small script of their
 * own, the only one their Content-Security-Policy allows (by its hash), and are never
 * framed by another site. Every value shown is escaped.
 */
import { createHash } from "node:crypto";
import { escapeHtml } from "./pages.ts";
import { ENROLL_PATH, SIGNIN_PATH } from "./routing.ts";

/** Runs a passkey's steps: the button says which, the server says everything else. */
const SCRIPT = `(() => {
  const button = document.querySelector("[data-passkey]");
  const status = document.getElementById("passkey-status");
  if (!button || !status) return;
  const say = (text) => { status.textContent = text; };
  const pkc = window.PublicKeyCredential;
  if (!pkc || !pkc.parseRequestOptionsFromJSON || !window.isSecureContext) {
    button.disabled = true;
    say("This browser cannot use a passkey on this page: use a password.");
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
    location.assign(done.next);
  };
  button.addEventListener("click", async (event) => {
    event.preventDefault();
    try {
      say("Waiting for your passkey…");
      if (button.dataset.passkey === "enroll") {
        const begun = await post("${ENROLL_PATH}/passkey/options", { token: button.dataset.token });
        const credential = await navigator.credentials.create({ publicKey: pkc.parseCreationOptionsFromJSON(begun.options) });
        const made = await post("${ENROLL_PATH}/passkey", { ceremony: begun.ceremony, response: credential.toJSON() });
        say("Your passkey is saved. Now sign in with it…");
        await signIn(made.user, "/");
      } else {
        const name = document.querySelector("input[name=name]").value;
        await signIn(name, button.dataset.next);
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
export function accountPage(
  status: number,
  title: string,
  body: string,
  headers: Record<string, string> = {},
): Response {
  const html = `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>${escapeHtml(title)}</title><style>${STYLE}</style></head>
<body><h1>${escapeHtml(title)}</h1>${body}<script>${SCRIPT}</script>
<p><small class="muted">bucky gateway</small></p></body></html>
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
      ...headers,
    },
  });
}

/** The sign-in page: a name and a password, or a passkey where the gateway has a name. */
export function signInPage(options: {
  zone: string;
  next: string;
  passkeys: boolean;
  name?: string;
  error?: string;
  status?: number;
}): Response {
  const next = escapeHtml(options.next);
  return accountPage(
    options.status ?? 200,
    `Sign in to ${options.zone}`,
    `${options.error ? `<p class="error" role="alert">${escapeHtml(options.error)}</p>` : ""}
<form method="post" action="${SIGNIN_PATH}">
<input type="hidden" name="next" value="${next}">
<label>Your name<input name="name" autocomplete="username webauthn" autocapitalize="none" required value="${escapeHtml(options.name ?? "")}"></label>
<label>Password<input name="password" type="password" autocomplete="current-password"></label>
<button type="submit">Sign in</button>
</form>
${
  options.passkeys
    ? `<p><button type="button" class="alt" data-passkey="signin" data-next="${next}">Sign in with a passkey</button></p>`
    : `<p class="muted">Passkeys work where this gateway is reached by its host name.</p>`
}
<p id="passkey-status" role="status"></p>
<p class="muted">No way in yet? An admin of the zone gives you a link (<code>bucky user add</code>). The owner, at one of the zone's devices, can also run <code>bucky login-link</code>.</p>`,
  );
}

/** The page an enrollment link opens: set up a passkey, or a password. */
export function enrollPage(options: {
  zone: string;
  user: string;
  token: string;
  passkeys: boolean;
  error?: string;
  status?: number;
}): Response {
  const token = escapeHtml(options.token);
  return accountPage(
    options.status ?? 200,
    `Welcome to ${options.zone}, ${options.user}`,
    `${options.error ? `<p class="error" role="alert">${escapeHtml(options.error)}</p>` : ""}
<p>Choose how you will sign in. This link works once.</p>
${
  options.passkeys
    ? `<p><button type="button" data-passkey="enroll" data-token="${token}">Make a passkey</button></p>
<p id="passkey-status" role="status"></p>
<p class="muted">Or, where a passkey will not do, a password:</p>`
    : `<p id="passkey-status" role="status"></p><p class="muted">Passkeys work where this gateway is reached by its host name; here, choose a password.</p>`
}
<form method="post" action="${ENROLL_PATH}">
<input type="hidden" name="token" value="${token}">
<label>Password (at least 8 characters)<input name="password" type="password" autocomplete="new-password" minlength="8" required></label>
<label>The same again<input name="confirm" type="password" autocomplete="new-password" minlength="8" required></label>
<button type="submit">Use this password</button>
</form>`,
  );
}

/** A page that says an account step did not work, and what to do. */
export function refusedPage(
  status: number,
  title: string,
  message: string,
  hint?: string,
  headers: Record<string, string> = {},
): Response {
  return accountPage(
    status,
    title,
    `<p class="error" role="alert">${escapeHtml(message)}</p>${hint ? `<p>${escapeHtml(hint)}</p>` : ""}`,
    headers,
  );
}
