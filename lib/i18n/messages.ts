/** The words for a language: one catalog per language, each of the same shape. */
import { en } from "./en.ts";
import type { Language } from "./language.ts";
import { zhCN } from "./zh-CN.ts";

export type Messages = typeof en;

export function messagesFor(language: Language): Messages {
  return language === "zh-CN" ? zhCN : en;
}
