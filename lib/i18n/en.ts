/**
 * Every word bucky says to people in English: the panel's, the gateway pages' and the
 * commands' text. Each is a whole sentence or label, with its values as named parameters,
 * so a translation can put them in its own order (lib/i18n/zh-CN.ts has the same shape).
 * Nothing outside these files builds a sentence from pieces.
 */

import { describeSessionProblem, type SessionProblem } from "../users/session-problem.ts";

const s = (count: number, one: string, many: string) =>
  `${count.toLocaleString("en")} ${count === 1 ? one : many}`;

export const en = {
  /** The language tag of these words. */
  language: "en" as string,
  common: {
    never: "never",
    cancel: "Cancel",
    copy: "Copy",
    copied: "Copied",
  },
  layout: {
    title: (p: { page: string; zone: string }) => `${p.page} · ${p.zone} · bucky`,
    skip: "Skip to the content",
    sections: "Sections",
    signOut: "Sign out",
    yourAccount: "Your account",
    signedInAs: (p: { user: string; role: string }) => `Signed in as ${p.user} (${p.role})`,
    throughDevice: (p: { device: string }) => `Signed in through the device ${p.device}`,
  },
  nav: {
    overview: "Overview",
    apps: "Apps",
    store: "App store",
    devices: "Devices",
    backups: "Backups",
    people: "People",
    rules: "Rules",
    agents: "Agents",
    yourApps: "Your apps",
    yourAgents: "Your agents",
  },
  access: {
    title: "Not yours to see",
    adminsOnly: "Only the zone's admins can see or do that.",
    deviceCannot:
      "A device's session cannot do that: it needs keys of the device serving this panel. Sign in as an admin.",
    foreignForm: "This form was sent from another site and was not acted on.",
  },
  /** A page that could not be shown. */
  failed: {
    title: "Something went wrong",
    bug: "Something went wrong on this device, and this page could not be shown.",
    whatToDo:
      "Try again in a moment. If it happens again, this device's log (logs/bucky.log in its bucky home) says what went wrong.",
    tryAgain: "Go back and try again, or go to the overview.",
  },
  /** Said after an action no other device holds yet (cmd/held-elsewhere.ts in the CLI). */
  held: {
    notYet:
      "No other device of the zone holds this change yet (none said so within 3 seconds): until one does, it is on this device alone, and lost if this device is gone. Keep this device on until another device of the zone is back.",
    notByIssuer: (p: { device: string }) =>
      `${p.device}, the device that made the invitation, has not heard of this yet: until it does, a device could still join with it there.`,
  },
  /** Status words, as tags. */
  status: {
    "nearly full": "nearly full",
    online: "online",
    offline: "offline",
    revoked: "revoked",
    quarantined: "quarantined",
    direct: "direct",
    relayed: "relayed",
    pending: "pending",
    starting: "starting",
    running: "running",
    unhealthy: "unhealthy",
    crashed: "crashed",
    stopped: "stopped",
    sound: "sound",
    damaged: "damaged",
    public: "public",
    installed: "installed",
    active: "active",
    expired: "expired",
    used: "used",
    altered: "altered",
    owner: "owner",
    admin: "admin",
    member: "member",
    child: "child",
  },
  overview: {
    level: (p: { level: number }) => `Reliability level ${p.level}`,
    meaning: {
      "one-device-no-backup": (_: { devices: readonly string[] }) =>
        "One device and no backup: its data may be lost at any time.",
      "no-backup": (_: { devices: readonly string[] }) =>
        "No backup outside the zone: its data may be lost at any time.",
      "partly-backed-up": (p: { devices: readonly string[] }) =>
        `Not every device is backed up: what only ${new Intl.ListFormat("en").format(p.devices)} ${p.devices.length === 1 ? "holds" : "hold"} may be lost at any time.`,
      "backed-up": (_: { devices: readonly string[] }) =>
        "Backed up outside the zone: safe up to the last backup.",
      "two-devices": (_: { devices: readonly string[] }) =>
        "Backed up, and the zone is on two or more devices: it keeps working when one fails.",
      high: (_: { devices: readonly string[] }) =>
        "Every app's data is on two devices and the backups are verified: high availability, high reliability.",
    },
    allWell: "Nothing needs your attention.",
    traffic: "Traffic in the last day, on every gateway",
    noTraffic: "No requests through the zone's gateways in the last day.",
    noneShared: "No apps are shared with you yet: ask an admin of the zone.",
    disk: "Disk",
    diskDevice: "Device",
    diskFree: "Free",
    diskFreeOf: (p: { free: string; total: string }) => `${p.free} of ${p.total}`,
    diskState: "Zone state",
    diskChangesets: (p: { count: number }) => s(p.count, "changeset", "changesets"),
    diskNamedData: "Named data",
    diskApps: "Apps",
    diskLogs: "Logs",
    diskBackupCaches: "Backup caches",
    diskNotMeasured: "not measured yet",
    diskMeasured: "Measured",
    /** `what` is the device's own words (its facts): said to be its words, never a command. */
    diskLeftover: (p: { device: string; what: string; size: string }) =>
      `${p.device} says nothing uses “${p.what}” any more: ${p.size}.`,
    certificates: "Certificates",
    noCertificates:
      "No gateway has a certificate: they speak plain HTTP. A gateway given a host name gets its own.",
    certificateName: "Name",
    certificateGateway: "Gateway",
    certificateIssuer: "From",
    certificateUntil: "Valid until",
    certificateNone: "none yet",
    certificateIssuers: { acme: "ACME", zone: "the zone CA", files: "given files" },
    certificateFailed: (p: { device: string; message: string }) =>
      `${p.device} says its last try failed: “${p.message}”`,
    /**
     * What to do about a certificate's error: where, and by whom. The panel shows them, so
     * no command to type: what the panel does, or what is done on the gateway itself.
     */
    certificateRemedies: {
      approve: (p: { gateway: string }) =>
        `The owner approves ${p.gateway}'s names: signed in as an admin to the panel of a device holding the owner key, with the button here (it shows the names before approving them).`,
      "start-owner-device": (_p: { gateway: string }) =>
        "Start a device holding the owner key (the one that made the zone, or one recovered with the phrase): it issues the certificate.",
      "external-account": (p: { gateway: string }) =>
        `The CA needs an external account: whoever runs ${p.gateway} gives it the CA's key id and HMAC key, on ${p.gateway} itself, where its gateway is set up.`,
      "point-dns": (p: { gateway: string }) =>
        `Whoever manages the name's DNS points it (or a wildcard record for the zone's host) at ${p.gateway}'s public address.`,
      "open-port-80": (p: { gateway: string }) =>
        `Make port 80 reach ${p.gateway} from the internet (forward it on the router), and check that the name points at it.`,
      "other-ca": (p: { gateway: string }) =>
        `The CA will not issue for this name: whoever runs ${p.gateway} gives it another name, or another CA, on ${p.gateway} itself, where its gateway is set up.`,
      "check-internet": (p: { gateway: string }) =>
        `Check ${p.gateway}'s internet connection, and the ACME directory its gateway was set up with.`,
      "free-disk": (p: { gateway: string }) =>
        `Free some space on ${p.gateway}; it tries again by itself.`,
      wait: (p: { gateway: string }) => `Nothing to do: ${p.gateway} tries again by itself.`,
    },
    zoneCa: "Gateways with local names (.lan, .local…) use the zone's own certificate authority.",
    zoneCaDownload: "Download its root",
    zoneCaTrust: "and trust it on your phones and laptops once.",
    approveGateway: "Approve this gateway",
    zoneCaTitle: "The zone's certificate authority",
  },
  notes: {
    noBackup: (p: { device: string }) => `${p.device}'s data is in no backup outside the zone yet.`,
    why: {
      "not-reported": "It has not reported on its backups yet.",
      "first-running": "Its first backup has not finished.",
      "no-key": "It has no backup key.",
      "no-target": "There is no backup target.",
    },
    giveKey: "Give it the backup key",
    // Of another device's backups, which the panel cannot act on, what that device does by
    // itself or what is done there: never a command to type (the panel asks for none).
    giveKeyOn: (p: { device: string }) =>
      `It is given the key on ${p.device} itself, from the recovery phrase.`,
    addTarget: "Add a backup target",
    backupFailed: (p: { device: string; target: string; message: string }) =>
      `The last backup of ${p.device} to ${p.target} failed: ${p.device} says “${p.message}”`,
    cannotKeepUp: (p: { device: string; target: string }) =>
      `Backups of ${p.device} to ${p.target} cannot keep up: data is written faster than it uploads.`,
    outpaced: (p: { device: string; target: string }) =>
      `Writes on ${p.device} are outpacing its backups to ${p.target}.`,
    staleBackup: (p: { device: string; hours: number }) =>
      `The last backup of ${p.device} is ${s(p.hours, "hour", "hours")} old.`,
    backupChanging: (p: { device: string; target: string; count: number }) =>
      `${p.count === 1 ? "A file" : s(p.count, "file", "files")} kept changing while the last backup of ${p.device} to ${p.target} read ${p.count === 1 ? "it" : "them"}: backed up as last read, ${p.count === 1 ? "it" : "they"} may hold a change part way.`,
    backupLeftOut: (p: { device: string; target: string; count: number }) =>
      `The last backup of ${p.device} to ${p.target} left out ${p.count === 1 ? "a file" : s(p.count, "file", "files")}: ${p.count === 1 ? "its name is" : "their names are"} not UTF-8. Renamed, ${p.count === 1 ? "it is" : "they are"} backed up.`,
    pruneFailing: (p: { device: string; target: string; days: number; message: string }) =>
      `${p.device} has failed to prune ${p.target} for ${s(p.days, "day", "days")}: what backups let go stays, and ${p.target} grows. ${p.device} says “${p.message}”`,
    hotFailing: (p: { device: string; target: string; message: string }) =>
      `The changes made on ${p.device} do not reach ${p.target} within seconds, though its backups there work: a restore holds them only up to its last backup. ${p.device} says “${p.message}”`,
    backUpNow: "Back up now",
    backsUpByItself: (p: { device: string }) =>
      `${p.device} backs up by itself, on its schedule, while it runs.`,
    neverVerified: (p: { device: string }) =>
      `The backups of ${p.device} have never been verified.`,
    staleVerify: (p: { device: string }) =>
      `The backups of ${p.device} have not been verified for over a week.`,
    verifyNow: "Verify now",
    verifiesByItself: (p: { device: string }) =>
      `${p.device} verifies its backups by itself, on its schedule, while it runs.`,
    damaged: (p: { device: string; target: string }) =>
      `The last verify of ${p.device}'s backups to ${p.target} found damage: back up again to store the damaged data anew.`,
    damageToStore: (p: { device: string; target: string; blobs: number; foundBy: string }) =>
      `A verify on ${p.foundBy} found ${p.blobs === 1 ? "a blob" : s(p.blobs, "blob", "blobs")} of ${p.device}'s backups to ${p.target} damaged: ${p.device}'s next backup stores ${p.blobs === 1 ? "it" : "them"} again.`,
    forgedSnapshots: (p: { device: string; target: string; count: number }) =>
      `The last verify of ${p.device}'s backups to ${p.target} found ${p.count === 1 ? "a snapshot" : s(p.count, "snapshot", "snapshots")} filed in a device's name by someone else holding the backup key. Restores leave them out; revoke the device that wrote them.`,
    forgedIndex: (p: { device: string; target: string; count: number }) =>
      `The last verify of ${p.device}'s backups to ${p.target} found ${p.count === 1 ? "an index file" : s(p.count, "index file", "index files")} no device of the zone signed, written by someone holding the backup key. They are left out, and the next prune deletes them.`,
    seeSnapshots: "See the snapshots",
    noCopyYet: (p: { device: string; app: string }) =>
      `${p.device} has no copy of ${p.app}'s data yet.`,
    copyBehind: (p: { device: string; app: string; seconds: number }) =>
      `${p.device}'s copy of ${p.app}'s data is ${s(p.seconds, "second", "seconds")} behind.`,
    singleCopyNoDevice: (p: { app: string; device: string }) =>
      `${p.app}'s data is on ${p.device} only: no other device is live to keep a copy.`,
    singleCopyWanted: (p: { app: string; device: string }) =>
      `${p.app}'s data is on ${p.device} only: its manifest asks for no copy.`,
    absent: (p: { device: string; days: number }) =>
      `${p.device} has not been seen for ${s(p.days, "day", "days")}. If it is gone for good, revoke it.`,
    absentSaidAhead: (p: { device: string; days: number; by: string }) =>
      `${p.device} has not been seen for ${s(p.days, "day", "days")}, but ${p.by} say its clock is ahead, so it may be up with its changes refused. Set its clock right first; if it is gone for good, revoke it.`,
    // Each refusing device's figure under its own name: its word, not the zone's.
    clockAhead: (p: {
      device: string;
      figures: readonly { by: string; seconds: number }[];
      by: string;
    }) =>
      `${p.device}'s clock is ${p.figures.map((f) => `${s(f.seconds, "second", "seconds")} ahead of the clock on ${f.by}`).join(", ")}: its changes are refused until it is set right, so it looks offline. Turn on network time on ${p.device}, or, if its clock is right, on ${p.by}.`,
    seeDevices: "See the devices",
    // The error is the gateway's own words (its facts): said to be.
    certificateMissing: (p: { device: string; name: string; error?: string }) =>
      `${p.device} has no certificate for ${p.name} yet${p.error ? `: ${p.device} says “${p.error}”` : "."}`,
    certificateExpired: (p: { device: string; name: string; error?: string }) =>
      `The certificate for ${p.name} on ${p.device} has expired${p.error ? `: ${p.device} says “${p.error}”` : "."}`,
    certificateExpiring: (p: { device: string; name: string; days: number; error?: string }) =>
      `The certificate for ${p.name} on ${p.device} expires ${p.days === 0 ? "today" : `in ${s(p.days, "day", "days")}`}${p.error ? `, and renewing it failed: ${p.device} says “${p.error}”` : "."}`,
    certificatesLeftOut: (p: { device: string; count: number; names: string }) =>
      `${p.device}'s gateway keeps certificates for 100 names at most: ${s(p.count, "more has", "more have")} none of their own (${p.names}), and browsers warn on them.`,
    // Why is the device's own words (its facts): said to be.
    gatewayDown: (p: { device: string; message: string }) =>
      `The gateway on ${p.device} does not serve, so nothing reaches the zone's apps through it: ${p.device} says “${p.message}”. It tries again by itself every few seconds.`,
    gatewaysOffline: (p: { devices: string }) =>
      `No gateway of the zone is online (${p.devices}): nothing reaches its apps or this panel from outside, and links made now wait for it. Bring one back, or make another device a gateway.`,
    // Its error is the device's own words (its last facts): said to be.
    stopped: (p: { device: string; message: string }) =>
      `${p.device} stopped and will not start again until it is repaired: its zone state was altered behind bucky's back (${p.device} says “${p.message}”). Repair its zone state on ${p.device} itself, then start it again.`,
    // The refusal is the device's own words (its facts): said to be.
    syncRefused: (p: { device: string; peer: string; code: string; message: string }) =>
      `${p.peer} refuses ${p.device}'s sync requests (${p.code}), so the two do not sync directly: ${p.device} says “${p.message}”. ${p.code === "E_PERMISSION" ? `If ${p.device} joined lately, this ends once ${p.peer} syncs with a device that knows it; otherwise check that both are still members.` : p.code === "E_CLOCK" ? "Their clocks are over 5 minutes apart: turn on network time on whichever of the two is wrong." : "Update both to the same bucky."}`,
    diskNearlyFull: (p: { device: string; free: string; total: string }) =>
      `${p.device}'s disk is nearly full: ${p.free} free of ${p.total}.`,
    seeDisk: "See where its space goes",
    deviceUnsandboxed: (p: { device: string; problem: string }) =>
      `${p.device} cannot sandbox apps: ${p.device} says “${p.problem}”. Apps there can reach all of that device.`,
    appUnsandboxed: (p: { app: string; device: string }) =>
      `${p.app} runs on ${p.device} without a sandbox.`,
    /** An app whose spec in the zone state (any member writes specs) is not one bucky can read. */
    /** An app a newer bucky installed: its spec is of a newer format. No way to remove it is offered. */
    appSpecNewer: (p: { app: string; problem: string }) =>
      `${p.app} was installed by a newer bucky than this device's (${p.problem}). Update bucky on this device to manage it here.`,
    appSpecUnreadable: (p: { app: string; problem: string }) =>
      `${p.app} runs nowhere: its settings in the zone state cannot be read (${p.problem}). Install it again, or remove it.`,
    /** An image app no device of the zone runs images for: the platforms are names (checked). */
    imageUnrunnable: (p: { app: string; platforms: readonly string[] }) =>
      `${p.app} runs a container image, and no device of the zone runs images for ${p.platforms.join(" or ")}. Install Podman (with runc) on one of them, then restart bucky there.`,
    /**
     * A member's removal with its data, which the owner did not authorise: nothing was
     * deleted. The panel removes an app keeping its data, so deleting it is done where the
     * owner key is, at the command line: said where and what, not the command.
     */
    purgeUngranted: (p: { app: string; writtenBy: string }) =>
      `${p.app} was removed by ${p.writtenBy}, asking for its data to be deleted, which the owner did not authorise: its data is kept on every device. To delete it, remove ${p.app} with its data again at the command line of a device holding the owner key; or leave it, and nothing is lost.`,
    /** A device caught signing two histories: every device refuses its changes from the fork on. */
    deviceQuarantined: (p: { device: string; seq: number }) =>
      `${p.device} is quarantined: it signed two different histories from change #${p.seq} on, most often because its home was put back from an older copy. No device takes its changes from #${p.seq} on, nor anything it writes now; what some devices took past #${p.seq} before they knew stays there until a later change to the same thing replaces it. Revoke it on the Devices page of a device holding the owner key (the one that made the zone, or one given the key from the recovery phrase), then join it again from a fresh home.`,
    /**
     * A revoked device proven to fork within what its revocation keeps: the owner may cut
     * again. The Devices page revokes a device once, so that is done at the command line.
     */
    deviceRevokedFork: (p: {
      device: string;
      keptSeq: number;
      seq: number;
      recutSeq: number;
      admitted: readonly string[];
    }) =>
      p.recutSeq < 1
        ? `${p.device} was revoked keeping its changes #1–#${p.keptSeq}, but its history parts at its first change (#1): no revocation can keep less, and each device keeps what it holds of it.`
        : `${p.device} was revoked keeping its changes #1–#${p.keptSeq}, but its history parts at #${p.seq}: revoke it again, at the command line of a device holding the owner key (the Devices page revokes a device only once), to keep #1–#${p.recutSeq}. That drops what it wrote from #${p.recutSeq + 1} on, on every device${p.admitted.length === 0 ? "" : `, including the devices it admitted then (${p.admitted.join(", ")}), which must be invited again`}.`,
    /** A member refuses another's changes by a write rule (an older bucky): the refusal is its words. */
    writesRefused: (p: {
      device: string;
      author: string;
      fromSeq: number;
      reason: string;
      deviceVersion: string | null;
      authorVersion: string | null;
      upgrade: string | null;
    }) =>
      `${p.device} refuses ${p.author}'s changes from #${p.fromSeq}, so none of them reach it: ${p.device} says “${p.reason}”. ${p.device} runs bucky ${p.deviceVersion ?? "(version not said)"}, ${p.author} bucky ${p.authorVersion ?? "(version not said)"}. ${p.upgrade !== null ? `Upgrade ${p.upgrade}.` : p.deviceVersion !== null && p.deviceVersion === p.authorVersion ? `Both run the same bucky, so no update takes it: ${p.author} wrote what the zone's rules refuse (a device taken over, or one whose home was altered). Revoke it and join it again from a fresh home.` : "Update both to the same bucky."}`,
    /** A member's changesets that do not follow what this device holds: a proof is being looked for. */
    brokenChain: (p: { device: string; peer: string; seq: number; seenBy: string }) =>
      `${p.seenBy} says ${p.device} may have signed two histories: what ${p.peer} holds of it does not follow what ${p.seenBy} holds (at change #${p.seq}). ${p.seenBy} is looking for where they part, to quarantine it on every device; nothing to do yet.`,
    /** Two devices admitted under one name at once: the one that lost it is no member. */
    deviceNameClash: (p: { name: string; id: string; keptId: string; admittedBy: string }) =>
      `Two devices were admitted as ${p.name} at the same time, while the devices admitting them were apart. The zone keeps ${p.keptId}; the one ${p.admittedBy} admitted (${p.id}) is no member, and is told so: join it again from a fresh home with another name. Do not revoke ${p.name}: that is the one kept.`,
    /** Public files past the zone's budget for them: no gateway copies or serves them. */
    publicPastBudget: (p: { files: number; size: string; budget: string }) =>
      `${p.files === 1 ? "A public file" : `${p.files} public files`} (${p.size}) ${p.files === 1 ? "is" : "are"} past the zone's budget for public files (${p.budget}): no gateway copies or serves ${p.files === 1 ? "it" : "them"}. Make some of them private, or raise the budget, at the command line of any device.`,
    /** Stored files fewer than two devices hold: lost with the one that holds them. */
    storedFilesAtRisk: (p: { files: number; pastBudget: number; budget: string }) =>
      `${p.files === 1 ? "A stored file has" : `${p.files} stored files have`} fewer than two copies in the zone: ${p.files === 1 ? "it is" : "they are"} lost with the device that holds ${p.files === 1 ? "it" : "them"}. Keep the zone's devices running until another holds ${p.files === 1 ? "it" : "them"}.${p.pastBudget > 0 ? ` ${p.pastBudget} ${p.pastBudget === 1 ? "is" : "are"} past the zone's budget for stored files (${p.budget}), which no other device copies: remove some, or raise the budget, at the command line of any device.` : ""}`,
    /** A budget the owner did not sign (written before budgets were the owner's): the default applies. */
    unsignedBudget: (p: { key: string; budget: string }) =>
      `${p.key} holds a budget the owner did not sign: the default, ${p.budget}, applies. Set it again at the command line of a device holding the owner key.`,
    removeUnreadable: (p: { app: string }) =>
      `${p.app} will be removed from the zone's state. Whatever data of it a device kept stays there, among that device's leftovers.`,
  },
  charts: {
    max: (p: { value: string }) => `Highest: ${p.value}`,
    bar: (p: { label: string; value: string }) => `${p.label}: ${p.value}`,
    hoursAgo: (p: { hours: number }) =>
      p.hours === 0 ? "this hour" : `${s(p.hours, "hour", "hours")} ago`,
    requestsTitle: (p: { app: string }) => `Requests to ${p.app} per hour, last 24 hours`,
    requests: (p: { count: number }) => s(p.count, "request", "requests"),
    snapshotSizes: "Size of each snapshot",
    diskPerApp: (p: { device: string }) => `Space each app takes on ${p.device}`,
  },
  devices: {
    device: "Device",
    status: "Status",
    reached: "Reached",
    lastSeen: "Last seen",
    thisOne: "(this one)",
    notReached: "not reached yet",
    stopped:
      "stopped: its zone state was altered behind bucky's back; repair it on that device itself, rather than revoke it",
    itself: "this is the device serving this page",
    via: (p: { relay: string }) => `through ${p.relay}`,
    roundTrip: (p: { ms: number }) => `${p.ms} ms`,
    now: "now",
    revokeOpen: "Revoke…",
    revokeText: (p: { device: string }) =>
      `${p.device} will no longer be trusted by the zone. This cannot be undone.`,
    revoke: (p: { device: string }) => `Revoke ${p.device}`,
    revoked: (p: { device: string }) => `${p.device} is revoked: the zone no longer trusts it.`,
    backupKeyKept: (p: { device: string; places: readonly string[]; epoch?: number | null }) =>
      p.epoch
        ? `${p.device} may hold the backup key: backups from now on are sealed under a new key it never held (key epoch ${p.epoch}), but it can read the zone's backups made before, wherever it can still reach them${p.places.length > 0 ? ` (${new Intl.ListFormat("en").format(p.places)})` : ""}. Take away what it used to reach them: a target's password or SSH key.`
        : `${p.device} may hold the backup key: it can read the zone's backups made before it was revoked, wherever it can still reach them${p.places.length > 0 ? ` (${new Intl.ListFormat("en").format(p.places)})` : ""}. Take away what it used to reach them: a target's password or SSH key.`,
    addTitle: "Add a device",
    addText:
      "An invitation lets one new device join the zone. Make one here, then give it to the new device as it sets up bucky.",
    validFor: "Valid for",
    oneHour: "1 hour",
    oneDay: "1 day",
    sevenDays: "7 days",
    givesBackupKey: "Let the new device back up (it gets the backup key)",
    createInvitation: "Create an invitation",
    openInvitations: "Invitations not used yet",
    created: "Made",
    expires: "Expires",
    joinsThrough: "Joins through (must be online)",
    withdraw: "Withdraw",
    withdrawn: "The invitation is withdrawn: no device can join with it.",
    gatewayApproved: (p: { device: string }) =>
      `${p.device} may now hold certificates for the names it serves.`,
    approveGatewayTitle: (p: { device: string }) => `Approve ${p.device} as a gateway`,
    approveGatewayNames: (p: { device: string; names: string }) =>
      `${p.device} serves, as the zone's state says: ${p.names} (and each app's name under a host). Approve it only if these are its names: the zone's CA will certify them for it, and the zone's gateways will answer a public CA's challenges for them.`,
    invitationTitle: "Invitation",
    invitationText:
      "Give this invitation to the new device: it joins the zone with it. It works once, for one device.",
    validUntil: "Valid until:",
    invitationScan: "Or scan it with the new device:",
    invitationQr: "The invitation as a QR code",
    back: "Back to the devices",
  },
  apps: {
    none: "No apps installed yet.",
    browseStore: "Browse the app store",
    version: (p: { version: string }) => `version ${p.version}`,
    runsOn: (p: { device: string }) => `runs on ${p.device}`,
    noDevice: "no device can run it now",
    /** What the device running an app said went wrong (its report): its words. */
    problemSaid: (p: { device: string; problem: string }) => `${p.device} says “${p.problem}”`,
    openApp: (p: { app: string }) => `Open ${p.app}`,
    manage: (p: { app: string }) => `Manage ${p.app}`,
    updateAvailable: (p: { version: string }) => `Version ${p.version} is available.`,
    fromFile: "Install from a file",
    archive: "The app's directory, as a .tar or .tar.gz archive",
    packageId: "or a package id already in the zone",
    install: "Install",
    runOn: "Run it on",
    anyDevice: "the device its manifest names, or any",
    chooseFile: "Choose an archive, or give a package id.",
    installed: (p: { app: string; version: string }) => `Installed ${p.app} ${p.version}.`,
    willStart: (p: { app: string }) => `${p.app} will start.`,
    willStop: (p: { app: string }) => `${p.app} will stop.`,
    removed: (p: { app: string }) => `${p.app} is removed (its data is kept).`,
    stop: "Stop",
    start: "Start",
    updateTo: (p: { version: string }) => `Update to ${p.version}`,
    dataOn: (p: { device: string }) => `Its data is on ${p.device}.`,
    copiesOn: (p: { devices: string }) => `Copies are kept on ${p.devices}.`,
    /** After a takeover from a copy: how much written before it could be missing. */
    lostAtMost: (p: { device: string; seconds: number }) =>
      `${p.device} took it over from a copy: at most the last ${p.seconds} s of writes before could be missing.`,
    lostUnknown: (p: { device: string }) =>
      `${p.device} took it over from a copy after being away itself: how much of the writes before could be missing is not known.`,
    noCopies: "No other device keeps a copy.",
    /** Each copy reads itself back once a day (lib/replica/follower.ts): when it last did. */
    copyReadBack: (p: { device: string }) => `${p.device}'s copy last read back whole:`,
    copyNotReadBack: (p: { device: string }) => `${p.device}'s copy has not been read back yet.`,
    copyDamaged: (p: { device: string; blobs: number; holder: string }) =>
      `${p.device}'s copy has ${p.blobs} damaged ${p.blobs === 1 ? "piece" : "pieces"}: it fetches ${p.blobs === 1 ? "it" : "them"} again from ${p.holder}.`,
    movingTo: (p: { device: string }) => `Moving to ${p.device}…`,
    /** A takeover due but not claimed yet: until it is, the holder is the one running the app. */
    takeoverDue: (p: { holder: string; by: string; silentSeconds: number | null }) =>
      `${p.holder} has not been heard from${p.silentSeconds === null ? "" : ` for ${p.silentSeconds} s`}: ${p.by} takes the app over unless it still hears from ${p.holder}.`,
    moveTitle: "Move it",
    moveText:
      "It stops, its last changes go to the other device, and it starts there with its data.",
    moveTo: "To the device",
    move: "Move",
    moving: (p: { app: string; device: string }) => `${p.app} is moving to ${p.device}.`,
    limitsTitle: "Limits",
    rps: "Requests per second, at most",
    bandwidth: "Megabytes per second, at most",
    limitsHint: "Leave a field empty for no limit.",
    setLimits: "Set the limits",
    limitsSet: (p: { app: string }) => `The limits of ${p.app} are set.`,
    shareTitle: "Who sees it",
    everyone: "Everyone of the zone.",
    sharedWithNow: (p: { whom: string }) => `Shared with ${p.whom}, and the admins.`,
    shareWith: "People and roles (admin, member, child), separated by commas; empty for everyone",
    share: "Share",
    sharedEveryone: (p: { app: string }) => `${p.app} is shared with everyone.`,
    sharedWith: (p: { app: string; whom: string }) => `${p.app} is shared with ${p.whom}.`,
    conflictsTitle: "Copies of its data kept aside",
    conflictsText:
      "These copies hold writes that never reached the device holding the app. Bringing one back makes it the app's data (the data it replaces is kept aside in turn).",
    conflictCopy: (p: { name: string; device: string }) => `${p.name}, on ${p.device}`,
    bringBack: "Bring it back",
    copyComing: (p: { app: string }) => `The copy of ${p.app}'s data is being brought back.`,
    removeTitle: "Remove it",
    removeOpen: "Remove…",
    removeText: (p: { app: string }) =>
      `${p.app} stops and is removed from every device. Its data is kept, so installing it again brings it back.`,
    remove: (p: { app: string }) => `Remove ${p.app}`,
    output: "Recent output",
    noOutput: "Nothing yet.",
  },
  store: {
    builtinTitle: "Apps that come with bucky",
    search: "Search",
    searchPlaceholder: "notes, photos, web site…",
    nothingFound: (p: { query: string }) => `No app matches “${p.query}”.`,
    empty: "The catalogs list no apps.",
    manageCatalogs: "Catalogs",
    versionFrom: (p: { version: string; catalog: string }) =>
      `Version ${p.version}, from ${p.catalog}`,
    about: "About it",
    needsTitle: "What it needs",
    needs: {
      process: "a program",
      image: "a container image",
      data: "keeps data of its own",
      noData: "keeps no data",
      network: "reaches the internet",
      noNetwork: "no internet access",
      public: "open to anyone",
      zoneOnly: "only for people of the zone",
    },
    permissions: {
      "state.read": "reads its own keys of the zone state",
      "state.write": "writes its own keys of the zone state",
      "ndn.read": "reads files stored in the zone by their id",
      "ndn.write": "stores files in the zone",
    },
    permissionOther: (p: { permission: string }) => `asks for ${p.permission}`,
    imageNotYet: "It runs from a container image, which this version of bucky cannot run yet.",
    newerBucky: "It needs a newer version of bucky.",
    install: (p: { app: string }) => `Install ${p.app}`,
    update: (p: { app: string; version: string }) => `Update ${p.app} to ${p.version}`,
    installedVersion: (p: { version: string }) => `Version ${p.version} is installed.`,
    catalogsTitle: "App catalogs",
    catalog: "Catalog",
    publisher: "Publisher's key",
    builtinPublisher: "comes with bucky",
    appCount: "Apps",
    apps: (p: { count: number }) => s(p.count, "app", "apps"),
    updated: "Updated",
    withBucky: "with bucky",
    checkUpdates: "Check for updates",
    removeOpen: "Remove…",
    removeText: (p: { catalog: string }) =>
      `The store will no longer list the apps of ${p.catalog}. The apps installed from it stay.`,
    remove: "Remove the catalog",
    addTitle: "Add a catalog",
    addText:
      "A catalog is a list of apps signed by its publisher. It is read first, and added only once you accept its publisher's key.",
    address: "Its address",
    file: "Or its file (.tar or .tar.gz)",
    read: "Read it",
    chooseFile: "Choose the catalog's file.",
    previewTitle: "Accept this publisher?",
    previewText: (p: { title: string; count: number; version: number }) =>
      `“${p.title}” lists ${s(p.count, "app", "apps")} (version ${p.version} of the catalog).`,
    publisherKey: "It is signed with this key:",
    publisherHint:
      "Accept it only if the publisher gave you this key themselves (on their site, say): every update of the catalog must be signed with it.",
    otherPublisher: (p: { catalog: string }) =>
      `The zone has a catalog named ${p.catalog} already, from another publisher: it will not be replaced.`,
    replaces: (p: { version: number }) => `It replaces version ${p.version} of this catalog.`,
    accept: "Accept the key and add the catalog",
    added: (p: { catalog: string; version: number }) =>
      `Catalog ${p.catalog} (version ${p.version}) is added: its apps are in the store.`,
    refreshed: (p: { catalog: string; version: number }) =>
      `Catalog ${p.catalog} is updated to version ${p.version}.`,
    upToDate: (p: { catalog: string }) => `Catalog ${p.catalog} is up to date.`,
    removed: (p: { catalog: string }) => `Catalog ${p.catalog} is removed.`,
  },
  jobs: {
    title: {
      install: (p: { subject: string }) => `Installing ${p.subject}`,
      "add-target": (p: { subject: string }) => `Adding the backup target ${p.subject}`,
      restore: (p: { subject: string }) => `Restoring ${p.subject}`,
    },
    working: "Working…",
    steps: {
      fetching: "Fetching the app…",
      starting: "Starting it…",
      backup: "Making the first backup…",
      verify: "Reading the backup back to check it…",
    },
    doneSoFar: (p: { done: string }) => `${p.done} so far`,
    doneOf: (p: { done: string; total: string }) => `${p.done} of ${p.total}`,
    installed: (p: { app: string; version: string }) => `${p.app} ${p.version} is installed.`,
    upgraded: (p: { app: string; from: string; version: string }) =>
      `${p.app} is updated from ${p.from} to ${p.version}, its data kept.`,
    runsOn: (p: { device: string }) => `It runs on ${p.device}.`,
    /** A job is work of one device's daemon: no other device's panel can follow it. */
    workOn: (p: { device: string }) =>
      `This work is done by ${p.device}, and followed at its panel only.`,
    notRunning: (p: { state: string }) => `It is ${p.state} for now.`,
    targetAdded: (p: { target: string }) =>
      `Backups now go to ${p.target}, from every device of the zone.`,
    firstBackup: (p: { files: number; size: string }) =>
      `First backup: ${s(p.files, "file", "files")}, ${p.size}.`,
    verified: "It was read back, and every part of it checks out.",
    damaged: "Reading it back FOUND DAMAGE: back up again.",
    restored: (p: { path: string; size: string }) => `Restored as ${p.path} (${p.size}).`,
    backToStore: "Back to the store",
    backToBackups: "Back to the backups",
  },
  backups: {
    device: "Device",
    target: "Target",
    lastBackup: "Last backup",
    lastVerify: "Last verified",
    /** Another device's backup error, in the zone's view: its words (its facts). */
    failedSaid: (p: { device: string; message: string }) =>
      `Failed: ${p.device} says “${p.message}”`,
    noDeviceBacksUp: "No device backs up yet: the zone's data is not backed up outside it.",
    noTarget: "No backup target yet: the zone's data is not backed up outside it.",
    through: (p: { device: string }) => `reached through ${p.device}`,
    direct: "reached by this device",
    hostKey: (p: { fingerprint: string }) => `Server key ${p.fingerprint}`,
    /** What runs for a target now: on the device serving the page, the only one it knows. */
    now: (p: { device: string }) => `Now, on ${p.device} (this device)`,
    idle: "idle",
    runningKind: { backup: "Backing up…", verify: "Verifying…", prune: "Tidying up…" },
    backUpNow: "Back up now",
    backUpAll: "Back up to every target now",
    verifyNow: "Verify now",
    snapshots: "Snapshots",
    removeOpen: "Remove…",
    removeText: (p: { target: string }) =>
      `No device will back up to ${p.target} any more. What is there already is left as it is.`,
    remove: (p: { target: string }) => `Remove ${p.target}`,
    removed: (p: { target: string }) => `No device backs up to ${p.target} any more.`,
    started: (p: { targets: string }) => `Backing up to ${p.targets}: this page follows it.`,
    alreadyRunning: (p: { targets: string }) => `Already backing up to ${p.targets}.`,
    verifying: (p: { target: string }) =>
      `Reading back all of ${p.target} to check it: this page follows it.`,
    busy: (p: { target: string }) => `${p.target} is busy: it is verified once that is done.`,
    keyTitle: "The backup key",
    keyText:
      "This device does not hold the backup key, so it cannot back up or restore. Type the zone's 24-word recovery phrase to give it the key: the phrase is used once and kept nowhere.",
    phrase: "The recovery phrase",
    giveKey: "Give this device the key",
    keyGiven: (p: { device: string }) =>
      `${p.device} holds the backup key now: it backs up on its schedule.`,
    keyInsecure:
      "The recovery phrase can only be typed here over a secure connection: open the panel over HTTPS, or on this device itself.",
    addTitle: "Add a target",
    addText:
      "Backups are encrypted before they leave: the target holds nothing it can read. Every device of the zone backs up to it.",
    dirTitle: "A disk or folder of this device",
    name: "Name",
    directory: "Folder",
    add: "Add and back up",
    sftpTitle: "An SFTP server",
    sshKeyText:
      "This device logs in with this key: add it to the server's authorized_keys for the account you name.",
    noSshKey: "This device needs an SSH key of its own to log in to an SFTP server.",
    makeKey: "Make this device a key",
    keyMade: "This device has an SSH key now.",
    server: "Address (sftp://user@host/folder)",
    check: "Look at the server",
    checkTitle: "Accept the server's key?",
    presents: (p: { server: string }) => `The server at ${p.server} presents this key:`,
    hostKeyHint:
      "Accept it if it is your server's key (its administrator can tell you its fingerprint). Every later connection must present the same key.",
    loginRefused: (p: { user: string }) =>
      `The server does not let this device in as ${p.user} yet: add this key to that account's authorized_keys, then look again.`,
    checkAgain: "Look again",
    acceptKey: "Accept the key, add and back up",
    snapshotsIn: (p: { target: string }) => `Snapshots in ${p.target}`,
    noSnapshots: "None yet.",
    missingLatest: (p: { device: string; snapshot: string; time: string; target: string }) =>
      `${p.device}'s last backup (${p.snapshot}, ${p.time}) is not in ${p.target}, nor any later one: it was lost there or hidden, so what is listed of ${p.device} is older than what it backed up. Its next backup stores it again.`,
    taken: "Taken",
    files: "Files",
    size: "Size",
    added: "New in it",
    signedBy: "Signed by",
    signedByNobody: "nobody",
    untrusted: {
      forged: "FORGED: not this device's",
      unsigned: "unsigned (an older bucky)",
      revoked: "its device is revoked",
      quarantined: "its device is quarantined",
      unknown: "no device of the zone",
    },
    leftOutOfRestores: "A home restore leaves it out.",
    notPutBack:
      "Nothing of it is put back in the home: someone holding the backup key wrote it, or its device is no longer trusted. A file of it can be downloaded to look at.",
    unsignedNotPutBack:
      "Nothing of it is put back in the home: its device signs its snapshots now, so anyone holding the backup key could have written this one. A file of it can be downloaded to look at.",
    fileCount: (p: { count: number }) => s(p.count, "file", "files"),
    lookInside: (p: { snapshot: string }) => `Look inside ${p.snapshot}`,
    back: "Back to the backups",
    inside: (p: { snapshot: string }) => `Inside snapshot ${p.snapshot}`,
    snapshotOf: (p: { device: string; time: string }) => `${p.device}, ${p.time}`,
    snapshotBy: (p: { device: string }) => `A snapshot of ${p.device}, taken`,
    where: "Where you are in the snapshot",
    top: "Top",
    appsData: "Apps' data",
    userData: "Your files",
    empty: "This folder is empty.",
    modified: "Changed",
    download: (p: { name: string }) => `Download ${p.name}`,
    restore: (p: { name: string }) => `Restore ${p.name}`,
    restoreHint:
      "Restoring puts the file or folder back where it was, beside what is there now: nothing is written over.",
  },
  people: {
    person: "Person",
    role: "Role",
    signsInWith: "Signs in with",
    ways: { passkey: "a passkey", password: "a password" },
    ownerLink: "a login link from a device holding the owner key",
    notYet: "not yet: their link was not opened",
    linkUsedTwice:
      "their link was used twice, at two gateways at once: no way in it made counts (someone else may have had it). Give them a new link.",
    passwordChangedTwoWays:
      "their password was changed two ways at once, at two gateways: no password of theirs counts. Give them a new link.",
    newLink: "New link",
    signOutEverywhere: "Sign out everywhere",
    signedOutEverywhere: (p: { person: string }) =>
      `${p.person} is signed out everywhere: every session they opened ends on every gateway. Their passkey or password still works.`,
    removeOpen: "Remove…",
    removeText: (p: { person: string }) =>
      `${p.person} will no longer sign in, and their sessions end on every gateway.`,
    remove: (p: { person: string }) => `Remove ${p.person}`,
    removed: (p: { person: string }) =>
      `${p.person} is removed: their sessions end on every gateway.`,
    addTitle: "Add a person",
    addText:
      "They get a link that works once: opened on their phone or computer, it lets them make a passkey, or choose a password. Then they sign in on any gateway of the zone.",
    name: "Their name (lowercase letters, digits, hyphens)",
    roles: {
      member: "member: sees the apps shared with them",
      child: "child: the same, and rules can name children",
      admin: "admin: sees and manages the whole zone",
    },
    add: "Add",
    linkFor: (p: { person: string }) => `A link for ${p.person}`,
    added: (p: { person: string }) => `${p.person} is added.`,
    resetDone: "Their old passkey or password, and their sessions, no longer work.",
    linkText: (p: { person: string; gateway: string }) =>
      `Send ${p.person} this link privately: it works once, at the gateway ${p.gateway}.`,
    otherGateways:
      "Where that gateway is away, the same link works at another of the zone's (once, at one of them):",
    validUntil: "Valid until:",
    scan: "Or let them scan it:",
    qr: "The link as a QR code",
    back: "Back to the people",
  },
  rules: {
    text: "Every gateway of the zone enforces these: a blocked request gets a page naming the rule.",
    none: "No rules.",
    rule: "Rule",
    remove: "Remove",
    removed: "The rule is removed.",
    added: "The rule is added.",
    addTitle: "Block an app",
    app: "App",
    everyApp: "every app",
    whom: "For",
    everyone: "everyone",
    aPerson: "A person",
    aRole: "Everyone of a role",
    children: "children",
    members: "members",
    aDevice: "The sessions of a device",
    hours: "Only at these hours (optional)",
    from: "From",
    to: "To",
    days: "Only on these days (optional)",
    timeZone: "Hours and days in the time zone",
    weekdays: {
      sun: "Sunday",
      mon: "Monday",
      tue: "Tuesday",
      wed: "Wednesday",
      thu: "Thursday",
      fri: "Friday",
      sat: "Saturday",
    },
    bothTimes: "Give both times of the window, or neither.",
    add: "Add the rule",
    blockAll: "Block every app",
    blockApp: (p: { app: string }) => `Block ${p.app}`,
    forPerson: (p: { person: string }) => `for ${p.person}`,
    forRole: (p: { role: string }) => `for every ${p.role}`,
    forDevice: (p: { device: string }) => `for the sessions of the device ${p.device}`,
    forClient: (p: { client: string }) => `for ${p.client}`,
    forEveryone: "for everyone",
    between: (p: { from: string; to: string }) => `from ${p.from} to ${p.to}`,
    onDays: (p: { days: string }) => `on ${p.days}`,
  },
  agents: {
    signInFirst:
      "Agents act for a person: sign in as yourself (not through a device's link) to grant agents of your own.",
    text: "An AI agent you grant here acts for you, and reaches no further than you.",
    mayRead: (p: { what: string }) => `It may read ${p.what}.`,
    mayDo: (p: { what: string }) => `It may ${p.what}.`,
    scopes: {
      "read apps": "your apps",
      "read status": "the zone's status",
      "app.start": "start apps",
      "app.stop": "stop apps",
      "backup.run": "run backups",
    },
    connects: "It connects with its token to this gateway at",
    none: "No agents yet.",
    agent: "Agent",
    may: "May",
    until: "Until",
    revokedAt: "revoked",
    notWorking: "Not working:",
    stopped: {
      revoked: (_p: { device: string }) => "it was revoked.",
      expired: (_p: { device: string }) => "its grant has expired.",
      "granter-revoked": (p: { device: string }) =>
        `it was granted through ${p.device}, which was revoked from the zone, so every call it makes is refused.`,
      "granter-quarantined": (p: { device: string }) =>
        `it was granted through ${p.device}, which is quarantined (it signed two different changes under one number), so every call it makes is refused.`,
      "granter-gone": (p: { device: string }) =>
        `it was granted through ${p.device}, which is not (or no longer) a device of this zone, so every call it makes is refused.`,
      "person-gone": (_p: { device: string }) =>
        "the person it acts for is no longer of this zone.",
      replaced: (_p: { device: string }) =>
        "another grant of the same name replaced it, so every call with its token is refused.",
    },
    grantAgain: "Grant it again below and give the agent the new token.",
    revoke: "Revoke",
    revoked: (p: { agent: string }) => `${p.agent} is revoked.`,
    grantTitle: "Grant an agent",
    name: "Its name (lowercase letters, digits, hyphens)",
    for: "For",
    days: (p: { days: number }) => s(p.days, "day", "days"),
    grant: "Grant",
    tokenTitle: (p: { agent: string }) => `Agent ${p.agent}`,
    tokenText:
      "Give your agent this token: it sends it as “Authorization: Bearer …”. It is shown only now.",
    validUntil: "Valid until:",
    back: "Back to your agents",
  },
  builtinApps: {
    notes: {
      title: "Notes",
      summary: "Notes kept on your own devices, in the app's own database.",
      description:
        "Write notes from any device of the zone. They are kept in SQLite in the app's own data, which the zone backs up and keeps a copy of on a second device.\n\nThe latest note is told to the zone, so other apps can show it.",
    },
    site: {
      title: "Web site",
      summary: "A static web site, open to anyone.",
      description:
        "Serves the files of its public folder to anyone who visits: a home page for your zone.\n\nIt keeps no data and reaches nothing else.",
    },
    whoami: {
      title: "Who am I",
      summary: "Greets whoever is signed in: the smallest app for several people.",
      description:
        "Shows the name and role of the person signed in. The gateway tells the app who it is, so an app for a family needs no accounts of its own.",
    },
  },
  /** The commands' text (`bucky …` without --json). */
  cli: {
    store: {
      none: "No apps in the store: add a catalog with `bucky store add`.",
      app: "APP",
      version: "VERSION",
      catalog: "CATALOG",
      state: "STATE",
      about: "ABOUT",
      installed: "installed",
      installedOther: (p: { version: string }) => `${p.version} installed`,
      updateFrom: (p: { version: string }) => `update (${p.version} installed)`,
      notInstallable: "needs a newer bucky",
      installedApp: (p: { app: string; version: string; catalog: string }) =>
        `Installed ${p.app} ${p.version} from ${p.catalog}.`,
      upgraded: (p: { app: string; from: string; version: string }) =>
        `Updated ${p.app} from ${p.from} to ${p.version}; its data is kept.`,
      runsAt: (p: { device: string; address: string }) =>
        `It runs on ${p.device} and answers at ${p.address}.`,
      runsNoGateway: (p: { device: string }) =>
        `It runs on ${p.device}; no gateway serves it yet (make one with \`bucky gateway enable\`).`,
      notRunning: (p: { state: string; error: string }) =>
        p.error ? `It is ${p.state}: ${p.error}` : `It is ${p.state} for now.`,
      askAccept: (p: { catalog: string; apps: number; publisher: string }) =>
        `Catalog ${p.catalog} (${s(p.apps, "app", "apps")}) is signed by the publisher\n  ${p.publisher}\nAccept this key? Only if the publisher gave it to you themselves. [y/N]`,
      added: (p: { catalog: string; version: number; publisher: string }) =>
        `Catalog ${p.catalog} (version ${p.version}) is added, signed by ${p.publisher}: its apps are in \`bucky store list\`.`,
      noneToUpdate: "No catalog of the zone has an address to fetch updates from.",
      published: (p: { catalog: string; version: number; apps: number; out: string }) =>
        `Catalog ${p.catalog} version ${p.version}, ${s(p.apps, "app", "apps")}, is in ${p.out}: serve that directory over HTTP, or pack it into a file.`,
      publisherIs: (p: { publisher: string }) =>
        `Its publisher's key, for people to accept when they add it: ${p.publisher}`,
      keyMade:
        "The key file was made now: keep it safe, every later version must be signed with it.",
    },
  },
  /**
   * The gateway's own pages (lib/gateway/pages.ts): text, where `code` in backquotes is
   * shown as code, and in a line that has a link, the words in [brackets] are the link.
   */
  gatewayPages: {
    footer: "This zone's gateway (bucky)",
    badRequest: "Bad request",
    noHost: "The request does not name one host (its Host header).",
    ambiguousPath:
      "The request's path is ambiguous: an encoded slash or backslash, a control character, an encoded percent sign, or a semicolon after a dot segment.",
    signInForPanel: "Sign in to see the control panel",
    panelOnlyForPeople: (p: { why: SessionProblem }) =>
      `The control panel is only for people of this zone, and ${describeSessionProblem(p.why)}.`,
    signInHow:
      "[Sign in], or, on one of the zone's devices, run `bucky login-link` and open the link it prints.",
    noSuchApp: "No such app",
    notAnApp: "This address does not name an app of this zone.",
    noAppNamed: (p: { app: string }) => `This zone has no app named ${p.app}.`,
    blocked: "Blocked by a rule",
    blockedBy: (p: { app: string; rule: string; what: string }) =>
      `${p.app} is blocked here by rule ${p.rule}: ${p.what}.`,
    signInForApp: "Sign in to reach this app",
    appOnlyForPeople: (p: { app: string; why: SessionProblem }) =>
      `${p.app} is only for people of this zone, and ${describeSessionProblem(p.why)}.`,
    fromAnotherSite: "Not from this app's own pages",
    fromAnotherSiteWhy: (p: { app: string }) =>
      `This request came from a page of another site (another app's, say), which does not act as you, and ${p.app} is only for people of this zone. It was not forwarded.`,
    notShared: "Not shared with you",
    notSharedWith: (p: { app: string }) =>
      `${p.app} is not shared with you. An admin of the zone can share it, on the Apps page of the control panel.`,
    tooManyRequests: "Too many requests",
    atMostRequests: (p: { app: string; rps: number; retryS: string }) =>
      `${p.app} takes at most ${p.rps} requests a second. Try again in ${p.retryS} s.`,
    busy: "The gateway is busy",
    busyWhy:
      "It is forwarding as many requests as it takes at once, or as many from your address. Try again in a moment.",
    noCertificateYet: (p: { app: string }) => `${p.app}'s certificate is on its way`,
    certificateOnItsWay: (p: { address: string }) =>
      `Its address is ${p.address}, which this gateway has no certificate for yet. Try again in a minute; if it stays so, the zone's control panel says why.`,
    noAppPortYet: (p: { app: string }) => `${p.app} has no address of its own here yet`,
    appPortWhy: (p: { app: string }) =>
      `This gateway has no name, so each app is served at a port of its own, where it cannot read the control panel or the other apps. ${p.app} has none yet: every port this gateway tried is held by another program, or it was installed a moment ago. Try again in a minute; if it stays so, the gateway's log says which ports were taken.`,
    notRunning: (p: { app: string }) => `${p.app} is not running`,
    stateIs: (p: { state: string; error: string }) =>
      p.error ? `Its state is ${p.state}: ${p.error}.` : `Its state is ${p.state}.`,
    restartsItself: "It restarts by itself when it can; try again in a moment.",
    stoppedOnPurpose: "It was stopped, and runs again once it is started.",
    noWebSocket: "The app cannot take this connection",
    noWebSocketWhy: "Its device could not be reached for a WebSocket.",
    tooLarge: "Too large",
    atMostBytes: (p: { bytes: number }) => `Requests are at most ${p.bytes} bytes.`,
    didNotAnswer: (p: { app: string }) => `${p.app} did not answer`,
    answerLate: (p: { seconds: number }) => `It took longer than ${p.seconds} s to answer.`,
    unreachable: (p: { app: string }) => `${p.app} could not be reached`,
    deviceSilent: "Its device did not answer; try again in a moment.",
    appSilent: "It did not answer on its device; try again in a moment.",
    answerBroke: "The answer broke off",
    answerBrokeWhy:
      "The connection it came by was cut before any of it reached you; try again in a moment.",
    tooSlow: "Too slow",
    bodyLate: (p: { seconds: number }) => `The request's body did not come within ${p.seconds} s.`,
    bodyStalled: (p: { seconds: number }) =>
      `The request's body stopped coming: the app waited ${p.seconds} s for the rest of it.`,
    refused: "The gateway refused this request",
    fault: "Something went wrong in the gateway",
    notForwarded: "The request was not forwarded.",
    loginLinkBroken: "This login link does not work",
    loginLinkLeadsAway:
      "Where it leads once used is not a path on this gateway, so it was not used.",
    loginLinkNew: "Make a new one with `bucky login-link`.",
    yourApps: "Your apps",
    zoneApps: "This zone's apps",
    noAppsForYou: "No apps for you yet.",
    noPublicApps: "No public apps yet.",
    signedInAs: (p: { user: string }) => `Signed in as ${p.user}.`,
    throughDevice: (p: { device: string }) => `Signed in through the device ${p.device}.`,
    signOut: "Sign out",
    yourPanel: "Your panel",
    yourAccount: "Your account",
    thePanel: "The panel",
    signInForMore: "[Sign in] to see the zone's other apps.",
    signedOut: "Signed out",
    signOutNotHeldYet:
      "You are signed out at this gateway, but no other device of the zone has heard of it yet (none said so within 3 seconds). Until one does, a copy of this session still works at the zone's other gateways, and if this device is gone before then, it goes on working there. Keep this device on until another device of the zone is back.",
    toStart: "[Back to the start page]",
    noSuchObject: "No such object",
    onlyPublicObjects: "This gateway serves only objects the zone made public.",
  },
  /** The pages people sign in and enroll on (lib/gateway/account-pages.ts), as above. */
  accountPages: {
    signInTo: (p: { zone: string }) => `Sign in to ${p.zone}`,
    yourName: "Your name",
    password: "Password",
    signIn: "Sign in",
    signInWithPasskey: "Sign in with a passkey",
    passkeysNeedHostName: "Passkeys work where this gateway is reached by its host name.",
    noWayIn:
      "No way in yet? An admin of the zone makes you a link, on the People page of the control panel. The owner, at one of the zone's devices, can also run `bucky login-link`.",
    welcome: (p: { zone: string; user: string }) => `Welcome to ${p.zone}, ${p.user}`,
    chooseHow: "Choose how you will sign in. This link works once.",
    makePasskey: "Make a passkey",
    orPassword: "Or, where a passkey will not do, a password:",
    passwordHere:
      "Passkeys work where this gateway is reached by its host name; here, choose a password.",
    newPassword: "Password (at least 8 characters)",
    sameAgain: "The same again",
    usePassword: "Use this password",
    passwordsDiffer: "The two passwords differ: type the same one twice.",
    passkeyUnsupported: "This browser cannot use a passkey on this page: use a password.",
    passkeyWaiting: "Waiting for your passkey…",
    passkeySaved: "Your passkey is saved. Now sign in with it…",
    wrongAddress: "Wrong address",
    openAt: (p: { host: string }) => `Open this page at ${p.host}.`,
    refused: "Refused",
    fromAnotherSite: "This form was sent from another site and was not acted on.",
    notHere: "Not here",
    notAWay: (p: { method: string }) => `${p.method} is not a way to use this page.`,
    noSuchPage: "No such page",
    notAPage: "This address is not a page of the gateway.",
    tooManyAttempts: "Too many attempts",
    linkBroken: "This link does not work",
    signInRefused: "Sign-in refused",
    yourAccount: (p: { user: string }) => `Your account, ${p.user}`,
    changePassword: "Change your password",
    currentPassword: "Your password now",
    noPasswordToChange:
      "You have no password (you sign in with a passkey, or a login link): there is none to change. An admin's new link lets you set one up.",
    passwordChanged: "Your password is changed",
    passwordChangedText:
      "Your new password works on every gateway of the zone; the old one no longer does, and the other sessions opened with it are ended.",
    passwordChangedHere: "Your password is changed at this gateway",
    enrolledHere: "You are set up at this gateway",
    enrollNotHeldYet:
      "You are signed in here, but no other device of the zone has heard of your account yet (none said so within 3 seconds): the other gateways do not take your password yet. Keep this device on until another is back, or your account is lost with it. Until then, do not open your link at another gateway: a link used twice lets no one in, and only an admin's new link would.",
    notHeldYet:
      "Your new password works here, but no other device of the zone has heard of it yet (none said so within 3 seconds): the other gateways still take the old one. Keep this device on until another is back, or the change is lost with it. Until then, do not change your password at another gateway: your old password changed two ways would work for no one, and only an admin's new link would let you in again.",
    everywhereTitle: "Lost a phone or a computer?",
    everywhereText:
      "Sign out everywhere: every session of yours ends, on every gateway of the zone, this one too. Your passkey or password still works: sign in again afterwards.",
    signOutEverywhere: "Sign out everywhere",
    toPanel: "Back to the panel",
  },
};
