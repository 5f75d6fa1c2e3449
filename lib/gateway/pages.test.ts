import { describe, expect, test } from "bun:test";
import { messagesFor } from "../i18n/messages.ts";
import { literal, page, textHtml, wordsFor } from "./pages.ts";

describe("the gateway's pages", () => {
  test("a catalog's text is escaped, with `code` in backquotes shown as code", () => {
    expect(textHtml('run `bucky login-link` <now> & "then"')).toBe(
      "run <code>bucky login-link</code> &#60;now&#62; &#38; &#34;then&#34;",
    );
    // A value others wrote keeps its backquotes as they are: no code of the gateway's.
    expect(textHtml(`It failed: ${literal("run `rm -rf /` now")}.`)).toBe(
      "It failed: run &#96;rm -rf /&#96; now.",
    );
    // A value inside the text (an app's error, a rule) cannot open a tag of its own.
    expect(textHtml("`<img src=x onerror=alert(1)>`")).toBe(
      "<code>&#60;img src=x onerror=alert(1)&#62;</code>",
    );
  });

  test("a line's [words] link to its address, escaped; HTML lines are taken as they are", async () => {
    const words = messagesFor("en");
    const html = await page(words, 401, "Sign <in>", [
      { text: "[Sign in] or `wait`", href: '/x?next="a"&b' },
      { html: "<b>kept</b>" },
    ]).text();
    expect(html).toContain("<title>Sign &#60;in&#62;</title>");
    expect(html).toContain(
      '<p><a href="/x?next=&#34;a&#34;&#38;b">Sign in</a> or <code>wait</code></p><p><b>kept</b></p>',
    );
  });

  test("a page runs no script, whatever a slip puts in it: its policy allows none", () => {
    const words = messagesFor("en");
    const policy = page(words, 503, "notes is not running", [{ html: "<b>kept</b>" }]).headers.get(
      "content-security-policy",
    );
    const directives = new Map(
      (policy ?? "").split(";").map((d) => {
        const [name = "", ...values] = d.trim().split(/\s+/);
        return [name, values] as const;
      }),
    );
    expect(directives.get("default-src")).toEqual(["'none'"]);
    expect(directives.has("script-src")).toBe(false);
    expect(directives.get("base-uri")).toEqual(["'none'"]);
    // The home page's sign-out form posts to the gateway itself.
    expect(directives.get("form-action")).toEqual(["'self'"]);
  });

  test("the language is the browser's first that bucky speaks, by weight; English otherwise", async () => {
    const ask = async (header: string | undefined) =>
      (
        await wordsFor(
          new Request("http://gw/", header ? { headers: { "accept-language": header } } : {}),
        )
      ).language;
    expect(await ask("zh-TW,en;q=0.5")).toBe("zh-CN");
    expect(await ask("de,en;q=0.9,zh;q=0.8")).toBe("en");
    expect(await ask("de,zh;q=0.8")).toBe("zh-CN");
    expect(await ask(undefined)).toBe("en");
    expect(await ask("*;q=0,zh;q=0")).toBe("en");
    const chinese = await page(messagesFor("zh-CN"), 404, "没有这个应用", []).text();
    expect(chinese).toContain('<html lang="zh-CN">');
    expect(chinese).toContain("<small>本区域的网关（bucky）</small>");
  });
});
