import { describe, expect, test } from "bun:test";
import { fromAnotherSite } from "./request-origin.ts";

/** A request carrying `origin` in its Origin header (none when undefined). */
function asked(origin: string | undefined): Request {
  return new Request("http://gateway/", origin === undefined ? {} : { headers: { origin } });
}

describe("fromAnotherSite", () => {
  test("no Origin (a link followed, an address typed, curl) is from no other site", () => {
    expect(fromAnotherSite(asked(undefined), "diary.zone.test", true)).toBe(false);
  });

  test("without Origin, a subresource the browser says another origin's page included is another site's; a navigation is not", () => {
    const fetched = (headers: Record<string, string>) =>
      fromAnotherSite(new Request("http://gateway/", { headers }), "diary.zone.test", true);
    // <script src> or <img> of evil.zone.test's page: no Origin, but Sec-Fetch-Site says.
    expect(fetched({ "sec-fetch-site": "same-site", "sec-fetch-mode": "no-cors" })).toBe(true);
    expect(fetched({ "sec-fetch-site": "cross-site", "sec-fetch-mode": "no-cors" })).toBe(true);
    // A link followed from another app, an address typed, the page's own subresources.
    expect(fetched({ "sec-fetch-site": "same-site", "sec-fetch-mode": "navigate" })).toBe(false);
    expect(fetched({ "sec-fetch-site": "none", "sec-fetch-mode": "navigate" })).toBe(false);
    expect(fetched({ "sec-fetch-site": "same-origin", "sec-fetch-mode": "no-cors" })).toBe(false);
  });

  test("the page's own origin is not another site's, however a browser spells it", () => {
    expect(fromAnotherSite(asked("https://diary.zone.test"), "diary.zone.test", true)).toBe(false);
    expect(
      fromAnotherSite(asked("http://diary.zone.test:8080"), "diary.zone.test:8080", false),
    ).toBe(false);
    // A scheme's own port said or not, names in any case.
    expect(fromAnotherSite(asked("https://diary.zone.test"), "diary.zone.test:443", true)).toBe(
      false,
    );
    expect(fromAnotherSite(asked("https://diary.zone.test:443"), "Diary.Zone.Test", true)).toBe(
      false,
    );
    expect(fromAnotherSite(asked("http://[::1]:8080"), "[::1]:8080", false)).toBe(false);
  });

  test("another app of the same zone, the zone's own name, another port or scheme is another site", () => {
    const at = "diary.zone.test:8443";
    for (const origin of [
      "https://evil.zone.test:8443",
      "https://zone.test:8443",
      "https://diary.zone.test:8444",
      "https://diary.zone.test",
      "http://diary.zone.test:8443",
      "https://diary.zone.test.evil.test:8443",
    ])
      expect([origin, fromAnotherSite(asked(origin), at, true)]).toEqual([origin, true]);
  });

  test("a hidden origin (null) or one that is no origin at all is another site's", () => {
    for (const origin of ["null", "", "diary.zone.test:8443", "file:///x", "data:text/html,x"])
      expect([origin, fromAnotherSite(asked(origin), "diary.zone.test:8443", true)]).toEqual([
        origin,
        true,
      ]);
  });
});
