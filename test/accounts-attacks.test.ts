/**
 * Family accounts from the attacker's side, over plain HTTP and as a member device: a
 * device without the owner key cannot make, raise or reach into anyone's account, nor
 * tell an app that someone is calling; a device's own session sees the zone but uses no
 * other device's keys; sign-in attempts are limited; an enrollment link stops working
 * when it is replaced; and an agent a person grants reaches no further than them.
 */

import { Database } from "bun:sqlite";
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { spawnSync } from "node:child_process";
import { join, resolve } from "node:path";
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";
import { PeerClient } from "../lib/node/peer-client.ts";
import { MemoryContacts } from "../lib/node/peers.ts";
import { OWNER_USER, signAccount, type UserName, userKeys } from "../protocol/accounts.ts";
import { REVOCATION_TYPE } from "../protocol/documents.ts";
import { toBase64url } from "../protocol/encoding.ts";
import { deviceIdFromPublicKey, type ZoneId } from "../protocol/ids.ts";
import { signJws } from "../protocol/jws.ts";
import { encodePullRequest } from "../protocol/sync-messages.ts";
import { signAppUser, signOwnerLogin } from "../protocol/user-session.ts";
import {
  answeredOnceHeld,
  atName,
  bucky,
  buckyJson,
  cleanUp,
  type Daemon,
  enableGateway,
  jsonError,
  startZone,
  waitFor,
} from "./harness.ts";
import { actAs, peerOf } from "./member.ts";

afterAll(cleanUp);

const HOST = "home.localhost";
const WHOAMI = resolve(import.meta.dir, "../fixtures/apps/whoami");

let alpha: Daemon;
let beta: Daemon;
let gateway: string;
let site: string;
let zoneId: ZoneId;
const clients: Client[] = [];

/** A request to the gateway as a browser at its name would send it. */
function get(path: string, cookie?: string, init: RequestInit = {}): Promise<Response> {
  const headers = new Headers(init.headers);
  const to = atName(site, path);
  headers.set("host", to.host);
  if (cookie) headers.set("cookie", cookie);
  return fetch(`${gateway}${to.path}`, { ...init, headers, redirect: "manual" });
}

/** A form posted from the gateway's own pages. */
function post(path: string, fields: Record<string, string | string[]>, cookie?: string) {
  const body = new URLSearchParams();
  for (const [name, value] of Object.entries(fields))
    for (const one of Array.isArray(value) ? value : [value]) body.append(name, one);
  return get(path, cookie, {
    method: "POST",
    headers: { origin: site, "content-type": "application/x-www-form-urlencoded" },
    body,
  });
}

const cookieOf = (response: Response) =>
  (response.headers.get("set-cookie") ?? "").split(";")[0] as string;

async function addPerson(name: string, role = "member"): Promise<string> {
  const added = await buckyJson<{ enrollment: { url: string } }>([
    "user",
    "add",
    name,
    "--role",
    role,
    "--home",
    alpha.home,
  ]);
  return new URL(added.enrollment.url).searchParams.get("token") as string;
}

/** Enrolls with a password through the enrollment form; the session it opens. */
async function enroll(token: string, password: string): Promise<string> {
  const response = await post("/_bucky/enroll", { token, password, confirm: password });
  expect(response.status).toBe(303);
  return cookieOf(response);
}

/**
 * Cuts the daemons' traffic with each other (their peer ports on loopback refuse every
 * packet; their commands still reach them), until healed.
 */
function cutApart(daemons: readonly Daemon[]): { heal(): void } {
  const table = `bucky_cut_${process.pid}`;
  const ports = daemons.map((daemon) => new URL(daemon.addresses[0] as string).port).join(", ");
  const nft = (script: string) => {
    const done = spawnSync("nft", ["-f", "-"], { input: script });
    if (done.status !== 0) throw new Error(`nft failed: ${done.stderr}`);
  };
  nft(
    `table inet ${table} {\n chain input {\n type filter hook input priority 0;\n iif lo tcp dport { ${ports} } reject with tcp reset\n }\n}\n`,
  );
  return { heal: () => nft(`delete table inet ${table}`) };
}

/** The people `home` lists. */
const people = async (home: string) =>
  (await buckyJson<{ people: { name: string; since: string }[] }>(["user", "list", "--home", home]))
    .people;

async function whoami(cookie?: string, headers: Record<string, string> = {}) {
  const response = await get("/apps/whoami/api/whoami", cookie, { headers });
  expect(response.status).toBe(200);
  return (await response.json()) as { user: string | null; role: string | null; headers: object };
}

beforeAll(async () => {
  const zone = await startZone(["alpha", "beta"], { BUCKY_CONVERGE_INTERVAL_MS: "300" });
  alpha = zone.get("alpha") as Daemon;
  beta = zone.get("beta") as Daemon;
  gateway = await enableGateway(alpha.home, ["--tls", "off", "--host", HOST]); // plain HTTP: a local name would get the zone CA
  site = `http://${HOST}:${new URL(gateway).port}`;
  zoneId = (await buckyJson<{ zone: { id: ZoneId } }>(["status", "--home", alpha.home])).zone.id;
  await buckyJson(["app", "install", WHOAMI, "--device", "alpha", "--home", alpha.home]);
  await waitFor(
    "whoami to run",
    async () =>
      (await buckyJson<{ state: string }>(["app", "status", "whoami", "--home", alpha.home]))
        .state === "running"
        ? true
        : undefined,
    30_000,
  );
}, 60_000);

afterAll(async () => {
  await Promise.all(clients.map((client) => client.close()));
});

describe("people, as a member device sees them", () => {
  test("a device without the owner key adds, resets and removes no one", async () => {
    for (const args of [
      ["user", "add", "eve"],
      ["user", "reset", "owner"],
      ["user", "remove", "owner"],
    ]) {
      const result = await bucky([...args, "--home", beta.home, "--json"]);
      expect([args.join(" "), result.exitCode, jsonError(result).message]).toEqual([
        args.join(" "),
        1,
        args[1] === "remove"
          ? "the owner cannot be removed from their own zone"
          : "this device does not hold the owner key",
      ]);
    }
  });

  test("nor writes an account or a credential into the zone state", async () => {
    const member = await actAs(beta.home);
    const made = signAccount(
      { zone: zoneId, user: "eve" as UserName, rev: 1, role: "admin", creds: 1, issuedAt: 1 },
      member.key,
    );
    const refused = await bucky([
      "state",
      "set",
      userKeys.account("eve", 1),
      JSON.stringify(made),
      "--home",
      beta.home,
      "--json",
    ]);
    expect([refused.exitCode, jsonError(refused).message]).toEqual([
      1,
      expect.stringContaining("must hold an account signed by the zone owner"),
    ]);
    // Signed as beta and pushed straight to alpha: refused there as well.
    const changeset = member.changeset([
      { key: userKeys.account("eve", 1), value: JSON.stringify(made) },
    ]);
    const ack = await member.push(alpha, [changeset.bytes]);
    expect(ack.rejected).toBe(1);

    // A credential copied from a real one (ann's), as beta's: only alpha, whose
    // enrollment it is, may record it.
    const ann = await enroll(await addPerson("ann"), "ann's password");
    expect(ann).toStartWith("bucky_session=");
    const { entries } = await buckyJson<{ entries: { key: string; value: unknown }[] }>([
      "state",
      "list",
      "users/ann/credentials/",
      "--home",
      alpha.home,
    ]);
    expect(entries.length).toBe(1);
    const [credential] = entries as [{ key: string; value: unknown }];
    const copy = member.changeset([
      {
        key: userKeys.credential("ann", "A".repeat(22)),
        value: JSON.stringify(credential.value),
      },
    ]);
    expect((await member.push(alpha, [copy.bytes])).rejected).toBe(1);
  });

  test("names, roles and the owner are checked", async () => {
    for (const [args, code, message] of [
      [["user", "add", "admin"], "E_INVALID_INPUT", "reserved word"],
      [["user", "add", "Bob"], "E_INVALID_INPUT", "cannot be a person's name"],
      [["user", "add", "bob", "--role", "owner"], "E_INVALID_INPUT", "is not a role"],
      [["user", "add", "ann"], "E_EXISTS", "already a person"],
      [["user", "remove", "owner"], "E_PERMISSION", "cannot be removed"],
      [["user", "reset", "nobody"], "E_NOT_FOUND", "no person named nobody"],
      [["app", "share", "whoami", "--with", "nobody"], "E_NOT_FOUND", "no person named nobody"],
      [["rule", "add", "block", "--app", "whoami", "--user", "nobody"], "E_NOT_FOUND", "no person"],
      [
        ["rule", "add", "block", "--app", "whoami", "--user", "ann", "--role", "child"],
        "E_USAGE",
        "not user and role",
      ],
    ] as const) {
      const result = await bucky([...args, "--home", alpha.home, "--json"]);
      expect([args.join(" "), jsonError(result).code]).toEqual([args.join(" "), code]);
      expect(jsonError(result).message).toContain(message);
    }
  });

  test("a link is void once a newer one replaced it, or its person is gone", async () => {
    const first = await addPerson("dan");
    await buckyJson(["user", "reset", "dan", "--home", alpha.home]);
    const replaced = await post("/_bucky/enroll", {
      token: first,
      password: "dan's password",
      confirm: "dan's password",
    });
    expect([replaced.status, await replaced.text()]).toEqual([
      403,
      expect.stringContaining("a newer link for dan replaced it"),
    ]);
    const second = await addPerson("fay");
    await buckyJson(["user", "remove", "fay", "--home", alpha.home]);
    expect(await (await get(`/_bucky/enroll?token=${second}`)).text()).toContain(
      "fay is not a person of this zone any more",
    );
  });

  test("a session the gateway just checked (and remembers) ends once its password is reset", async () => {
    const cookie = await enroll(await addPerson("gil"), "gil's password");
    const reach = async () => (await get("/apps/whoami/api/whoami", cookie)).status;
    // Checked, and remembered: it stands (200, or 403 while the app is not shared with
    // members; 401 is for no session).
    for (const status of [await reach(), await reach()]) expect([200, 403]).toContain(status);
    await buckyJson(["user", "reset", "gil", "--home", alpha.home]);
    // Well before a remembered session would be looked at again anyway (a minute).
    await waitFor(
      "gil's session to end",
      async () => ((await reach()) === 401 ? true : undefined),
      20_000,
    );
    const page = await get("/apps/whoami/api/whoami", cookie);
    expect(await page.text()).toContain("no longer lets gil in");
    // Gone again: the tests after this one count the people of the zone.
    await buckyJson(["user", "remove", "gil", "--home", alpha.home]);
  });

  test("past ten attempts for one person, the gateway makes them wait", async () => {
    const cookie = await enroll(await addPerson("eve"), "eve's password");
    expect(cookie).toStartWith("bucky_session=");
    for (let attempt = 1; attempt <= 10; attempt++) {
      const wrong = await post("/_bucky/signin", { name: "eve", password: `guess ${attempt}` });
      expect([attempt, wrong.status]).toEqual([attempt, 403]);
    }
    const limited = await post("/_bucky/signin", { name: "eve", password: "eve's password" });
    expect(limited.status).toBe(429);
    expect(Number(limited.headers.get("retry-after"))).toBeGreaterThan(0);
    // Someone else is not held up by it.
    const ann = await post("/_bucky/signin", { name: "ann", password: "ann's password" });
    expect(ann.status).toBe(303);
    expect(alpha.log()).toContain('reason="too many attempts for this person"');
  });
});

describe("sessions and the apps", () => {
  test("the owner's link opens the owner's session; a member device's opens its own", async () => {
    const signIn = async (home: string) => {
      const link = await buckyJson<{ url: string; signsInAs: string }>([
        "login-link",
        "--home",
        home,
      ]);
      const url = new URL(link.url);
      return { as: link.signsInAs, cookie: cookieOf(await get(url.pathname + url.search)) };
    };
    const owner = await signIn(alpha.home);
    expect(owner.as).toBe("owner");
    expect(await whoami(owner.cookie)).toMatchObject({ user: "owner", role: "owner" });
    const device = await signIn(beta.home);
    expect(device.as).toBe("device");
    // The device's session reaches the app, as no person.
    expect(await whoami(device.cookie)).toMatchObject({ user: null, headers: {} });
    // It sees the zone's people, and uses no key of the device serving the panel.
    const people = await get("/_bucky/panel/people", device.cookie);
    expect(people.status).toBe(200);
    // No other site frames the panel, whose buttons act.
    expect(people.headers.get("x-frame-options")).toBe("DENY");
    const add = await post(
      "/_bucky/panel/people/add",
      { name: "mallory", role: "admin" },
      device.cookie,
    );
    expect([add.status, await add.text()]).toEqual([
      403,
      expect.stringContaining(
        "session cannot do that: it needs keys of the device serving this panel",
      ),
    ]);
    const invite = await post("/_bucky/panel/devices/invite", { ttlMs: "3600000" }, device.cookie);
    expect(invite.status).toBe(403);
    // The owner's may.
    const added = await post(
      "/_bucky/panel/people/add",
      { name: "gus", role: "child" },
      owner.cookie,
    );
    expect([added.status, await added.text()]).toEqual([
      200,
      expect.stringContaining("/_bucky/enroll?token="),
    ]);
  });

  test("the owner, reset, signs in with a password like anyone", async () => {
    const reset = await buckyJson<{ user: string; role: string; enrollment: { url: string } }>([
      "user",
      "reset",
      "owner",
      "--home",
      alpha.home,
    ]);
    expect([reset.user, reset.role]).toEqual(["owner", "owner"]);
    await enroll(
      new URL(reset.enrollment.url).searchParams.get("token") as string,
      "the owner's own",
    );
    const signedIn = await post("/_bucky/signin", { name: "owner", password: "the owner's own" });
    expect(signedIn.status).toBe(303);
    expect(await whoami(cookieOf(signedIn))).toMatchObject({ user: "owner", role: "owner" });
    expect((await get("/_bucky/panel/people", cookieOf(signedIn))).status).toBe(200);
  });

  test("the app API says who may use the app, as shared", async () => {
    const names = async () =>
      (
        (await (await get("/apps/whoami/api/people", (await signInOwner()).cookie)).json()) as {
          people: { name: string }[];
        }
      ).people.map((p) => p.name);
    expect(await names()).toEqual(["ann", "dan", "eve", "gus", "owner"]);
    await buckyJson(["app", "share", "whoami", "--with", "ann,child", "--home", alpha.home]);
    await waitFor("the share", async () => ((await names()).length === 3 ? true : undefined));
    expect(await names()).toEqual(["ann", "gus", "owner"]);
    await buckyJson(["app", "share", "whoami", "--with", "everyone", "--home", alpha.home]);
  });

  test("an app shared with someone removed since is not shared with whoever gets their name next", async () => {
    const reach = async (cookie: string) => (await get("/apps/whoami/api/whoami", cookie)).status;
    const first = await enroll(await addPerson("lee"), "lee's password");
    await buckyJson(["app", "share", "whoami", "--with", "lee", "--home", alpha.home]);
    expect(await reach(first)).toBe(200);
    await buckyJson(["user", "remove", "lee", "--home", alpha.home]);
    const removedAtMs = Date.now();
    // Another lee: the share was the first one's.
    const second = await enroll(await addPerson("lee"), "the other lee's password");
    expect([await reach(first), await reach(second)]).toEqual([401, 403]);
    // Shared with the new lee, it is theirs (a removal is dated to its second: one after it).
    await waitFor("the second of the removal to pass", () =>
      Date.now() >= Math.floor(removedAtMs / 1000) * 1000 + 1000 ? true : undefined,
    );
    await buckyJson(["app", "share", "whoami", "--with", "lee", "--home", alpha.home]);
    expect(await reach(second)).toBe(200);
    await buckyJson(["app", "share", "whoami", "--with", "everyone", "--home", alpha.home]);
    await buckyJson(["user", "remove", "lee", "--home", alpha.home]);
  });

  test("a share given on a device that had not heard of a removal is not the next person's, whatever its time", async () => {
    const reach = async (cookie: string) => (await get("/apps/whoami/api/whoami", cookie)).status;
    await enroll(await addPerson("kim"), "kim's password");
    await waitFor("kim at beta", async () =>
      (await people(beta.home)).some((person) => person.name === "kim") ? true : undefined,
    );
    // Cut apart, kim is removed and another added at alpha; beta shares the app with the kim
    // it knows. Dated after the removal, the share counted for the new kim.
    let next: string;
    const cut = cutApart([alpha, beta]);
    try {
      await buckyJson(["user", "remove", "kim", "--home", alpha.home]);
      next = await addPerson("kim");
      await buckyJson(["app", "share", "whoami", "--with", "kim", "--home", beta.home]);
    } finally {
      cut.heal();
    }
    await waitFor("alpha to hold beta's share", async () => {
      const { apps } = await buckyJson<{ apps: { app: string; shared: string[] | null }[] }>([
        ...["app", "list", "--home", alpha.home],
      ]);
      return apps.find((app) => app.app === "whoami")?.shared?.join() === "kim" ? true : undefined;
    });
    const newKim = await enroll(next, "the new kim's password");
    expect(await reach(newKim)).toBe(403);
    // Shared again by a device that knows of the removal: the new kim's, at once.
    await waitFor("beta to hold the removal of the first kim", async () => {
      const { people: known } = await buckyJson<{ people: { name: string; since: string }[] }>([
        ...["user", "list", "--home", beta.home],
      ]);
      const onAlpha = (await people(alpha.home)).find((person) => person.name === "kim");
      return known.find((person) => person.name === "kim")?.since === onAlpha?.since
        ? true
        : undefined;
    });
    await buckyJson(["app", "share", "whoami", "--with", "kim", "--home", beta.home]);
    await waitFor("the new share at alpha", async () =>
      (await reach(newKim)) === 200 ? true : undefined,
    );
    await buckyJson(["app", "share", "whoami", "--with", "everyone", "--home", alpha.home]);
    await buckyJson(["user", "remove", "kim", "--home", alpha.home]);
  });

  test("a member device cannot tell an app that someone is calling", async () => {
    const member = await actAs(beta.home);
    const client = new PeerClient(member.key, new MemoryContacts(), Date.now);
    const alphaPeer = await peerOf(alpha);
    const now = Math.floor(Date.now() / 1000);
    const betaId = deviceIdFromPublicKey(member.key.publicKey);
    const call = (headers: Record<string, string>) =>
      client.forward(alphaPeer, "/v1/ingress/whoami/api/whoami", {
        method: "GET",
        headers: new Headers(headers),
        body: null,
        signal: AbortSignal.timeout(10_000),
      });
    // A plain header is dropped on the way in.
    const plain = await call({ "bucky-user": "owner", "bucky-user-role": "owner" });
    expect(await plain.json()).toMatchObject({ user: null, headers: {} });
    // An assertion beta made up, for an owner's session it signed with a link it signed.
    const session = {
      claims: {
        zone: zoneId,
        user: OWNER_USER,
        gateway: betaId,
        nonce: toBase64url(new Uint8Array(16)),
        issuedAt: now,
        expiresAt: now + 600,
      },
      proof: {
        k: "owner" as const,
        link: signOwnerLogin(
          {
            zone: zoneId,
            gateway: betaId,
            device: betaId,
            nonce: new Uint8Array(16),
            expiresAt: now + 60,
          },
          member.key,
        ).jws,
      },
    };
    const forged = await call({
      "bucky-app-user": signAppUser(
        { zone: zoneId, app: "whoami", audience: alphaPeer.id, expiresAt: now + 60, session },
        member.key,
      ),
    });
    expect([forged.status, await forged.text()]).toEqual([
      403,
      expect.stringContaining("your session does not work: JWS signature does not verify"),
    ]);
  });
});

describe("agents that act for a person", () => {
  test("a member grants one in the panel: it sees her apps, and nothing beyond her", async () => {
    await buckyJson(["app", "share", "whoami", "--with", "child", "--home", alpha.home]);
    const ann = cookieOf(await post("/_bucky/signin", { name: "ann", password: "ann's password" }));
    const beyond = await post(
      "/_bucky/panel/agents/grant",
      { name: "helper", read: ["apps", "status"] },
      ann,
    );
    expect(beyond.status).toBe(303);
    // The page it goes back to says why (the notice travels in a cookie, not the address).
    const notice = cookieOf(beyond);
    const said = await get(beyond.headers.get("location") as string, `${ann}; ${notice}`);
    expect(await said.text()).toContain("ann (member) cannot let an agent do status");
    const granted = await post("/_bucky/panel/agents/grant", { name: "helper", read: "apps" }, ann);
    const page = await granted.text();
    const token = /<pre id="agent-token">([^<]+)<\/pre>/.exec(page)?.[1] as string;
    expect(token).toBeString();
    const client = new Client({ name: "test", version: "1" });
    await client.connect(
      new StreamableHTTPClientTransport(new URL(`${gateway}/mcp`), {
        requestInit: { headers: { authorization: `Bearer ${token}` } },
      }),
    );
    clients.push(client);
    const apps = (await client.callTool({ name: "list_apps", arguments: {} })) as {
      content: { text: string }[];
    };
    // whoami is shared with children only: ann's agent sees no app.
    expect(JSON.parse(apps.content[0]?.text as string)).toEqual({ apps: [] });
    const status = (await client.callTool({ name: "zone_status", arguments: {} })) as {
      isError?: boolean;
      content: { text: string }[];
    };
    expect([status.isError, status.content[0]?.text]).toEqual([
      true,
      expect.stringContaining("reading status was not granted"),
    ]);
    await buckyJson(["app", "share", "whoami", "--with", "everyone", "--home", alpha.home]);
    const now = (await client.callTool({ name: "list_apps", arguments: {} })) as {
      content: { text: string }[];
    };
    expect(
      (JSON.parse(now.content[0]?.text as string) as { apps: { app: string }[] }).apps.map(
        (a) => a.app,
      ),
    ).toEqual(["whoami"]);
    // Once ann is removed, her agent reaches nothing.
    await buckyJson(["user", "remove", "ann", "--home", alpha.home]);
    const after = (await client.callTool({ name: "list_apps", arguments: {} })) as {
      isError?: boolean;
      content: { text: string }[];
    };
    expect([after.isError, after.content[0]?.text]).toEqual([
      true,
      expect.stringContaining("acts for ann, who is no longer a person of this zone"),
    ]);
    // Someone named ann is added again (the same person or another): the agent the removed
    // ann granted stays stopped, on every call and in the list.
    await buckyJson(["user", "add", "ann", "--home", alpha.home]);
    const again = (await client.callTool({ name: "list_apps", arguments: {} })) as {
      isError?: boolean;
      content: { text: string }[];
    };
    expect([again.isError, again.content[0]?.text]).toEqual([
      true,
      expect.stringContaining("acts for the ann removed at"),
    ]);
    const { agents } = await buckyJson<{
      agents: { agent: string; working: boolean; stopped?: { why: string } }[];
    }>(["agent", "list", "--home", alpha.home]);
    expect(agents.find((a) => a.agent === "ann-helper")).toMatchObject({
      working: false,
      stopped: { why: "person-gone" },
    });
  });
});

/**
 * Runs `command` on alpha with beta stopped (SIGSTOP), so that no device can take what it
 * writes: it must not be answered until beta is let go. Returns its answer.
 */
function answeredOnceBetaHolds<T>(command: string[], written: RegExp): Promise<T> {
  return answeredOnceHeld([beta], () => buckyJson<T>([...command, "--home", alpha.home]), {
    what: "alpha to write it",
    seen: () => written.test(alpha.log()),
  });
}

describe("a removal or a reset outlives the device that made it", () => {
  test("resetting a person is answered once another device holds the reset", async () => {
    await addPerson("forgetful");
    await waitFor("forgetful at beta", async () =>
      (await people(beta.home)).some((person) => person.name === "forgetful") ? true : undefined,
    );
    const reset = await answeredOnceBetaHolds<{ heldElsewhere: string }>(
      ["user", "reset", "forgetful"],
      /person reset.*user=forgetful/,
    );
    expect(reset.heldElsewhere).toBe("held");
    // Held by beta before alpha answered (the account's rev 2): the old link, and whatever
    // was made with it, ends there too.
    const held = await bucky(["state", "get", "users/forgetful/account/2", "--home", beta.home]);
    expect(held.exitCode).toBe(0);
  });

  test("removing a person is answered once another device holds the removal", async () => {
    await addPerson("leaving");
    await waitFor("leaving at beta", async () =>
      (await people(beta.home)).some((person) => person.name === "leaving") ? true : undefined,
    );
    const removed = await answeredOnceBetaHolds<{ heldElsewhere: string }>(
      ["user", "remove", "leaving"],
      /person removed.*user=leaving/,
    );
    expect(removed.heldElsewhere).toBe("held");
    // Held by beta before alpha answered: alpha could go now, and leaving's sessions end.
    expect((await people(beta.home)).map((person) => person.name)).not.toContain("leaving");
  });

  test("a peer that pulls past a removal holds it, though no push reached it", async () => {
    await addPerson("pulled");
    await waitFor("pulled at beta", async () =>
      (await people(beta.home)).some((person) => person.name === "pulled") ? true : undefined,
    );
    // Beta paused: alpha's push to it goes nowhere, and beta's key (held here) pulls instead,
    // saying it holds alpha's removal, as a device just back does before alpha pushes again.
    const [self, asBeta] = await Promise.all([actAs(alpha.home), actAs(beta.home)]);
    process.kill(beta.pid, "SIGSTOP");
    try {
      const removing = buckyJson<{ heldElsewhere: string }>([
        "user",
        "remove",
        "pulled",
        "--home",
        alpha.home,
      ]);
      await waitFor("alpha to write the removal", () =>
        /person removed.*user=pulled/.test(alpha.log()) ? true : undefined,
      );
      const state = new Database(join(alpha.home, "state.db"), { readonly: true });
      const head = state
        .query<{ seq: number }, [string]>(
          "SELECT max(seq) AS seq FROM changesets WHERE author = ?1",
        )
        .get(self.id)?.seq as number;
      state.close();
      await asBeta.post(
        alpha,
        "/v1/sync/pull",
        encodePullRequest({ have: new Map([[self.id, head]]) }),
      );
      expect((await removing).heldElsewhere).toBe("held");
    } finally {
      process.kill(beta.pid, "SIGCONT");
    }
  });

  test("a removal no other device took within 3 s is said to be held here alone", async () => {
    await addPerson("unheld");
    await waitFor("unheld at beta", async () =>
      (await people(beta.home)).some((person) => person.name === "unheld") ? true : undefined,
    );
    process.kill(beta.pid, "SIGSTOP");
    try {
      const removed = await bucky(["user", "remove", "unheld", "--home", alpha.home]);
      expect([removed.exitCode, removed.stdout]).toEqual([
        0,
        expect.stringContaining(
          "No other device holds the removal yet (none said so within 3 s): keep this device running",
        ),
      ]);
    } finally {
      process.kill(beta.pid, "SIGCONT");
    }
  });

  test("a reset no other device took within 3 s is said to be held here alone", async () => {
    await addPerson("unsure");
    await waitFor("unsure at beta", async () =>
      (await people(beta.home)).some((person) => person.name === "unsure") ? true : undefined,
    );
    process.kill(beta.pid, "SIGSTOP");
    try {
      const reset = await bucky(["user", "reset", "unsure", "--home", alpha.home]);
      expect([reset.exitCode, reset.stdout]).toEqual([
        0,
        expect.stringContaining(
          "No other device holds the reset yet (none said so within 3 s): keep this device running",
        ),
      ]);
    } finally {
      process.kill(beta.pid, "SIGCONT");
    }
  });
});

async function signInOwner() {
  const link = await buckyJson<{ url: string }>(["login-link", "--home", alpha.home]);
  const url = new URL(link.url);
  return { cookie: cookieOf(await get(url.pathname + url.search)) };
}

describe("an admin manages members and children, not the owner nor other admins", () => {
  const ownerRevs = async (home: string) =>
    (
      await buckyJson<{ entries: { key: string }[] }>([
        "state",
        "list",
        "users/owner/account/",
        "--home",
        home,
      ])
    ).entries.map((entry) => entry.key);
  /** What the panel said of an action, on the page it went back to. */
  const said = async (response: Response, cookie: string) => {
    expect(response.status).toBe(303);
    const page = await get(
      response.headers.get("location") as string,
      `${cookie}; ${cookieOf(response)}`,
    );
    return page.text();
  };

  test("in the panel, an admin gives a member a new link, and is refused the owner's and another admin's", async () => {
    const boss = await enroll(await addPerson("boss", "admin"), "boss's password");
    await addPerson("peer", "admin");
    await addPerson("junior");
    const before = await ownerRevs(alpha.home);
    // Offered only what they may do.
    const people = await (await get("/_bucky/panel/people", boss)).text();
    expect(people).toContain("people/junior/reset");
    expect(people).not.toContain("people/owner/reset");
    expect(people).not.toContain("people/peer/reset");
    expect(people).not.toContain('value="admin"');

    // A member: a new link, shown once.
    const junior = await post("/_bucky/panel/people/junior/reset", {}, boss);
    expect([junior.status, await junior.text()]).toEqual([200, expect.stringContaining("token=")]);
    // The owner: with a link for the owner, boss would be the owner.
    expect(await said(await post("/_bucky/panel/people/owner/reset", {}, boss), boss)).toContain(
      "boss (admin) cannot reset the owner: only the owner manages the owner and the admins",
    );
    expect(await said(await post("/_bucky/panel/people/peer/reset", {}, boss), boss)).toContain(
      "boss (admin) cannot reset peer (admin)",
    );
    expect(await said(await post("/_bucky/panel/people/peer/remove", {}, boss), boss)).toContain(
      "boss (admin) cannot remove peer (admin)",
    );
    expect(
      await said(
        await post("/_bucky/panel/people/add", { name: "mole", role: "admin" }, boss),
        boss,
      ),
    ).toContain("boss (admin) cannot add an admin");
    // Nothing was written: the owner's account is as it was, here and on beta.
    await buckyJson(["user", "reset", "junior", "--home", alpha.home]);
    await waitFor("junior's reset at beta", async () =>
      (await bucky(["state", "get", "users/junior/account/3", "--home", beta.home])).exitCode === 0
        ? true
        : undefined,
    );
    expect([await ownerRevs(alpha.home), await ownerRevs(beta.home)]).toEqual([before, before]);
    const names = (
      await buckyJson<{ people: { name: string; role: string }[] }>([
        "user",
        "list",
        "--home",
        beta.home,
      ])
    ).people.map((person) => `${person.name}:${person.role}`);
    expect(names).toContain("peer:admin");
    expect(names).not.toContain("mole:admin");
    // The owner, at the CLI of the device holding the owner key, still may.
    await buckyJson(["user", "remove", "peer", "--home", alpha.home]);
    for (const name of ["boss", "junior"])
      await buckyJson(["user", "remove", name, "--home", alpha.home]);
  });

  test("in the panel, an admin invites, revokes and approves no device: the zone's devices are the owner's", async () => {
    const boss = await enroll(await addPerson("chief", "admin"), "chief's password");
    const owner = (await signInOwner()).cookie;
    const invitesBefore = await buckyJson<{ invites: unknown[] }>([
      "invite",
      "list",
      "--home",
      alpha.home,
    ]);
    // Offered to the owner only.
    const ownerDevices = await (await get("/_bucky/panel/devices", owner)).text();
    expect(ownerDevices).toContain("devices/beta/revoke");
    expect(ownerDevices).toContain("devices/invite");
    const devices = await (await get("/_bucky/panel/devices", boss)).text();
    expect(devices).toContain("beta");
    expect(devices).not.toContain("devices/beta/revoke");
    expect(devices).not.toContain("devices/invite");
    // Asked anyway, the device holding the owner key refuses them.
    expect(await said(await post("/_bucky/panel/devices/beta/revoke", {}, boss), boss)).toContain(
      "chief (admin) cannot revoke beta: only the owner removes devices from the zone",
    );
    expect(
      await said(await post("/_bucky/panel/devices/invite", { ttlMs: "3600000" }, boss), boss),
    ).toContain("chief (admin) cannot invite a device: only the owner adds devices to the zone");
    expect(await buckyJson(["invite", "list", "--home", alpha.home])).toEqual(invitesBefore);
    // An approved gateway holds the zone's certificates for its names, and so every
    // person's session cookie there: asked to approve beta, shown or confirmed, the
    // device holding the owner key refuses, and writes no approval.
    const noApproval = "chief (admin) cannot approve beta as a gateway";
    expect(
      await said(await post("/_bucky/panel/devices/beta/approve-gateway", {}, boss), boss),
    ).toContain(noApproval);
    expect(
      await said(
        await post(
          "/_bucky/panel/devices/beta/approve-gateway",
          { confirm: "1", hosts: "", addresses: "127.0.0.1" },
          boss,
        ),
        boss,
      ),
    ).toContain(noApproval);
    expect(
      (await bucky(["state", "get", "nodes/alpha/gateway-approval/beta", "--home", alpha.home]))
        .exitCode,
    ).not.toBe(0);
    const standing = async (home: string) =>
      (
        await buckyJson<{ devices: { name: string; status: string }[] }>([
          "devices",
          "--home",
          home,
        ])
      ).devices.map((device) => `${device.name}:${device.status === "revoked" ? "revoked" : "in"}`);
    expect(await standing(alpha.home)).toEqual(["alpha:in", "beta:in"]);
    expect(await standing(beta.home)).toEqual(["alpha:in", "beta:in"]);
    await buckyJson(["user", "remove", "chief", "--home", alpha.home]);
  });

  test("a revocation of the owner's device, signed by a member device, is refused by the others", async () => {
    const member = await actAs(beta.home);
    const alphaId = (
      await buckyJson<{ devices: { name: string; id: string }[] }>([
        "devices",
        "--home",
        alpha.home,
      ])
    ).devices.find((device) => device.name === "alpha")?.id as string;
    // As the owner's would be, naming the zone, but signed with beta's own key.
    const forged = signJws(
      { alg: "EdDSA", typ: REVOCATION_TYPE, kid: zoneId },
      { zone: zoneId, id: alphaId, name: "alpha", lastSeq: 1, iat: Math.floor(Date.now() / 1000) },
      member.key,
    );
    const changeset = member.changeset([
      { key: "devices/alpha/revoked", value: JSON.stringify(forged) },
    ]);
    expect((await member.push(alpha, [changeset.bytes])).rejected).toBe(1);
    expect(
      (await bucky(["state", "get", "devices/alpha/revoked", "--home", alpha.home])).exitCode,
    ).not.toBe(0);
  });

  test("a forged reset of the owner, signed by a member device, is refused by the others", async () => {
    const member = await actAs(beta.home);
    const forged = signAccount(
      { zone: zoneId, user: OWNER_USER, rev: 9, role: "owner", creds: 9, issuedAt: 1 },
      member.key,
    );
    const changeset = member.changeset([
      { key: userKeys.account(OWNER_USER, 9), value: JSON.stringify(forged) },
    ]);
    expect((await member.push(alpha, [changeset.bytes])).rejected).toBe(1);
    expect(await ownerRevs(alpha.home)).not.toContain("users/owner/account/9");
  });
});
