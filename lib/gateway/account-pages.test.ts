import { describe, expect, test } from "bun:test";
import { messagesFor } from "../i18n/messages.ts";
import { passwordChangedPage } from "./account-pages.ts";

const words = messagesFor("en");
const pageText = async (notHeldYet: boolean) =>
  (await passwordChangedPage(words, notHeldYet, {}).text()).replace(/<[^>]+>/g, " ");

describe("the page after a password change", () => {
  test("held by another device: done on every gateway", async () => {
    const text = await pageText(false);
    expect(text).toContain("Your password is changed");
    expect(text).toContain("works on every gateway");
  });

  test("held here alone: done at this gateway, and not to be changed at another meanwhile", async () => {
    // Changed again at another gateway with the old password, it was changed two ways once
    // this one came back: it then worked for no one.
    const text = await pageText(true);
    expect(text).toContain("Your password is changed at this gateway");
    expect(text).toContain("do not change your password at another gateway");
    expect(text).not.toContain("works on every gateway");
  });
});
