import { describe, expect, test } from "bun:test";
import type { Notice } from "./layout.tsx";
import {
  deriveNoticeKey,
  NOTICE_VALUE_MAX_CHARS,
  noticeClearingCookies,
  noticeOfCookies,
  openNotice,
  sealNotice,
} from "./notice-cookie.ts";

const key = deriveNoticeKey("the-session-cookie-of-ann");
const session = "session-of-ann";
const nowMs = 1_764_000_000_000;
const notice: Notice = { kind: "ok", text: "notes is stopped", hint: "no other device holds it" };
const sealed = sealNotice(key, session, notice, nowMs + 120_000);

/** What an app's script writes: the notice's JSON, as the panel's old cookie carried it. */
const planted = Buffer.from(
  JSON.stringify({ kind: "error", text: "Your recovery phrase leaked: re-enter it at evil" }),
).toString("base64url");

describe("a notice's cookie", () => {
  test("opens for the session it was sealed for, until it expires", () => {
    expect(openNotice(key, session, sealed, nowMs)).toEqual(notice);
    expect(openNotice(key, session, sealed, nowMs + 119_999)).toEqual(notice);
    expect(openNotice(key, session, sealed, nowMs + 120_000)).toBeUndefined();
  });

  test("does not open one made without the key: unsealed, with a made-up mac, or another session cookie's", () => {
    const otherKey = deriveNoticeKey("another-session-cookie");
    const payload = sealed.split(".")[0] as string;
    for (const forged of [
      planted,
      `${planted}.${Buffer.alloc(32).toString("base64url")}`,
      `${payload}.${Buffer.alloc(32, 9).toString("base64url")}`,
      sealNotice(otherKey, session, notice, nowMs + 120_000),
      "",
      ".",
      `${sealed}.`,
    ])
      expect({ forged, opened: openNotice(key, session, forged, nowMs) }).toEqual({
        forged,
        opened: undefined,
      });
  });

  test("does not open for another session (a notice of the attacker's own session, planted)", () => {
    expect(openNotice(key, "session-of-bob", sealed, nowMs)).toBeUndefined();
    expect(openNotice(key, `${session}x`, sealed, nowMs)).toBeUndefined();
  });

  test("does not open once any character of it is changed", () => {
    const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    const opened: number[] = [];
    for (let at = 0; at < sealed.length; at++) {
      const was = sealed[at] as string;
      const now = was === "." ? "A" : alphabet[(alphabet.indexOf(was) + 1) % 64];
      const altered = `${sealed.slice(0, at)}${now}${sealed.slice(at + 1)}`;
      if (openNotice(key, session, altered, nowMs)) opened.push(at);
    }
    expect(opened).toEqual([]);
  });

  test("does not open a value longer than any notice the panel makes, nor decode it", () => {
    const long = sealNotice(key, session, { kind: "ok", text: "x".repeat(3200) }, nowMs + 1000);
    expect(long.length).toBeGreaterThan(NOTICE_VALUE_MAX_CHARS);
    expect(openNotice(key, session, long, nowMs)).toBeUndefined();
  });

  test("is found among planted ones, whichever comes first; any of them came and is cleared", () => {
    const header = `bucky_session=s; bucky_notice=${planted}; bucky_notice=${sealed}`;
    expect(noticeOfCookies(key, session, header, nowMs)).toEqual({ came: true, notice });
    expect(noticeOfCookies(key, session, `a=1; bucky_notice=${planted}`, nowMs)).toEqual({
      came: true,
      notice: undefined,
    });
    expect(noticeOfCookies(key, session, "bucky_session=s", nowMs)).toEqual({
      came: false,
      notice: undefined,
    });
  });

  test("is cleared as the panel set it and as a sibling host's script set it (Domain)", () => {
    expect(noticeClearingCookies("zone.test")).toEqual([
      "bucky_notice=; Path=/_bucky/panel; Max-Age=0",
      "bucky_notice=; Path=/_bucky/panel; Max-Age=0; Domain=zone.test",
    ]);
  });
});
