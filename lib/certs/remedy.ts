/**
 * What to do about a gateway's certificate problem, in the zone's own words. A gateway
 * writes its certificates' last errors (a message and a hint) in its own signed facts, so
 * a member device can make them say anything: "run bucky gateway approve laptop --host
 * router.lan". So the hint is never what another device is told to do. The message only
 * picks one of the remedies below, each written here and naming only the gateway (a
 * member of the zone, by its name): the worst a member can do is pick the wrong one, about
 * itself.
 */

/**
 * How the message of a gateway waiting for the owner's approval begins (lib/gateway/
 * approval.ts writes it): here so that saying what to do loads nothing else.
 */
export const NOT_APPROVED = "the owner has not approved ";

export type CertificateRemedy =
  /** The owner approves the gateway's names: `bucky gateway approve <gateway>`. */
  | { readonly kind: "approve"; readonly gateway: string }
  /** A device holding the owner key is started: it issues zone CA certificates. */
  | { readonly kind: "start-owner-device"; readonly gateway: string }
  /** The ACME CA needs an external account, given on the gateway. */
  | { readonly kind: "external-account"; readonly gateway: string }
  /** The name does not resolve: whoever manages its DNS points it at the gateway. */
  | { readonly kind: "point-dns"; readonly gateway: string }
  /** The CA did not reach the gateway on port 80. */
  | { readonly kind: "open-port-80"; readonly gateway: string }
  /** The CA refuses the name: another name, or another CA, on the gateway. */
  | { readonly kind: "other-ca"; readonly gateway: string }
  /** The ACME directory was not reached: the gateway's internet, or its directory. */
  | { readonly kind: "check-internet"; readonly gateway: string }
  /** The gateway's disk is full. */
  | { readonly kind: "free-disk"; readonly gateway: string }
  /** Nothing to do: the gateway tries again by itself. */
  | { readonly kind: "wait"; readonly gateway: string };

/**
 * The remedy for the last error `message` of a certificate of `gateway`; undefined for a
 * message this code does not write (then there is nothing to say but the message).
 */
export function certificateRemedy(gateway: string, message: string): CertificateRemedy | undefined {
  const kind = remedyKind(message);
  return kind ? { kind, gateway } : undefined;
}

function remedyKind(message: string): CertificateRemedy["kind"] | undefined {
  // The messages lib/certs/keeper.ts and acme.ts (explain) write; a test feeds each.
  if (message.startsWith(NOT_APPROVED)) return "approve";
  if (message.startsWith("waiting for the zone CA:")) return "start-owner-device";
  if (message === "this CA needs an external account") return "external-account";
  if (message.startsWith("the CA's rate limit stops ")) return "wait";
  if (/^\S+ does not resolve in DNS: /.test(message)) return "point-dns";
  if (message.startsWith("the CA could not reach this gateway on port 80 ")) return "open-port-80";
  if (/^the CA reached \S+ but not this gateway's answer: /.test(message)) return "open-port-80";
  if (message.startsWith("the CA will not issue for ")) return "other-ca";
  if (message.startsWith("the ACME directory cannot be reached")) return "check-internet";
  if (message.startsWith("the CA did not answer (")) return "check-internet";
  if (message.startsWith("no room on the disk ")) return "free-disk";
  if (message.startsWith("no certificate for ")) return "wait";
  return undefined;
}

/** A remedy in English, for the command line: which device, which command, run by whom. */
export function describeRemedy(remedy: CertificateRemedy): string {
  const g = remedy.gateway;
  switch (remedy.kind) {
    case "approve":
      return `the owner approves it: on a device holding the owner key, run \`bucky gateway approve ${g}\` (it shows the names ${g} asks for, and approves them once you say yes)`;
    case "start-owner-device":
      return "start the daemon of a device holding the owner key (the one that made the zone, or one recovered with the phrase): it issues the certificate";
    case "external-account":
      return `the CA needs an external account: on ${g}, whoever runs it gives the CA's key id and HMAC key with \`bucky gateway enable --acme-eab-kid ID --acme-eab-key-file F\``;
    case "point-dns":
      return `whoever manages the name's DNS points it (or a wildcard record for the zone's host) at ${g}'s public address`;
    case "open-port-80":
      return `make port 80 reach ${g} from the internet (forward it on the router to ${g}), and check that the name points at it`;
    case "other-ca":
      return `the CA will not issue for this name: on ${g}, use another name, or another CA with \`bucky gateway enable --acme-directory URL\``;
    case "check-internet":
      return `check ${g}'s internet connection, and its ACME directory (\`bucky gateway enable --acme-directory URL\` on ${g})`;
    case "free-disk":
      return `free some space on ${g} (\`bucky status --disk\` shows what takes it); it tries again by itself`;
    case "wait":
      return `nothing to do: ${g} tries again by itself`;
  }
}
