/** Times, lists and numbers for people, in each language. */
import { describe, expect, test } from "bun:test";
import { exactTime, listOf, relativeTime } from "./format.ts";
import { languageOfAcceptLanguage, languageOfLocale } from "./language.ts";

const NOW = Date.parse("2026-11-28T12:00:00Z");

describe("times for people", () => {
  test("how long ago, in each language", () => {
    expect(relativeTime("2026-11-28T11:57:00Z", NOW, "en")).toBe("3 minutes ago");
    expect(relativeTime("2026-11-28T11:57:00Z", NOW, "zh-CN")).toBe("3分钟前");
    expect(relativeTime("2026-11-27T12:00:00Z", NOW, "en")).toBe("yesterday");
  });

  test("the exact time, with its zone, in each language", () => {
    expect(exactTime("2026-11-28T21:19:35.003Z", "en")).toBe("Nov 28, 2026, 09:19 PM UTC");
    expect(exactTime("2026-11-28T21:19:35.003Z", "zh-CN")).toContain("2026年11月28日");
  });

  test("a time that is no time (another device's facts say what they say) is shown as it is", () => {
    expect(exactTime("last tuesday", "en")).toBe("last tuesday");
    expect(relativeTime("last tuesday", NOW, "zh-CN")).toBe("last tuesday");
  });

  test("lists joined as each language joins them", () => {
    expect(listOf(["alpha", "beta", "gamma"], "en")).toBe("alpha, beta, and gamma");
    expect(listOf(["alpha", "beta"], "zh-CN")).toBe("alpha和beta");
  });
});

describe("the language", () => {
  test("of a browser: its first supported choice by weight; any Chinese is Simplified", () => {
    expect(languageOfAcceptLanguage("zh-CN,zh;q=0.9,en;q=0.8")).toBe("zh-CN");
    expect(languageOfAcceptLanguage("fr-FR, en;q=0.5, zh;q=0.4")).toBe("en");
    expect(languageOfAcceptLanguage("fr, zh-TW;q=0.3")).toBe("zh-CN");
    expect(languageOfAcceptLanguage("en;q=0, zh;q=0.1")).toBe("zh-CN");
    expect(languageOfAcceptLanguage(undefined)).toBe("en");
    expect(languageOfAcceptLanguage("de")).toBe("en");
  });

  test("of a command: LC_ALL, then LC_MESSAGES, then LANG", () => {
    expect(languageOfLocale({ LANG: "zh_CN.UTF-8" })).toBe("zh-CN");
    expect(languageOfLocale({ LC_ALL: "C", LANG: "zh_CN.UTF-8" })).toBe("en");
    expect(languageOfLocale({ LC_MESSAGES: "zh_CN.UTF-8", LANG: "en_US.UTF-8" })).toBe("zh-CN");
    expect(languageOfLocale({})).toBe("en");
  });
});
