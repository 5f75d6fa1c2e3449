/**
 * Why a session lets no one in. Said to the person on the gateway's pages in their own
 * language (lib/i18n: `gatewayPages.panelOnlyForPeople` and `appOnlyForPeople`), so it is a
 * code with its values, not a sentence; `describeSessionProblem` is the English for errors
 * and logs (and the English catalog's).
 */
export type SessionProblem =
  | { readonly code: "not-signed-in" }
  | { readonly code: "signed-out" }
  | { readonly code: "gateway-gone" }
  | { readonly code: "link-device-gone" }
  /**
   * The request came from a page of another site (another app's, say): the gateway takes no
   * person from its cookie (lib/gateway/request-origin.ts).
   */
  | { readonly code: "another-site" }
  /** An app's request came through a device (its gateway) no longer in the zone. */
  | { readonly code: "forwarder-gone" }
  | { readonly code: "person-gone"; readonly user: string }
  /** The password or passkey the session was opened with was removed. */
  | { readonly code: "credential-gone"; readonly user: string; readonly credential: string }
  /** The session's bytes do not stand (expired, forged, another zone's): the check's words. */
  | { readonly code: "invalid"; readonly detail: string }
  /** The request carried sessions of different people: an app's page may have set one. */
  | { readonly code: "several-people" };

export function describeSessionProblem(problem: SessionProblem): string {
  switch (problem.code) {
    case "not-signed-in":
      return "you are not signed in";
    case "signed-out":
      return "your session was signed out";
    case "gateway-gone":
      return "your session was opened by a gateway no longer in the zone";
    case "link-device-gone":
      return "your session was opened with a link from a device no longer in the zone";
    case "another-site":
      return "this request came from another site's page, which does not act as you";
    case "forwarder-gone":
      return "it was forwarded by a device no longer in the zone";
    case "person-gone":
      return `${problem.user} is no longer a person of this zone`;
    case "credential-gone":
      return `the ${problem.credential} your session was opened with no longer lets ${problem.user} in`;
    case "invalid":
      return `your session does not work: ${problem.detail}`;
    case "several-people":
      return "this browser sent sessions of different people (a page of an app may have set one): sign out, clear this site's cookies and sign in again";
  }
}
