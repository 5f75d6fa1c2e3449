/**
 * The languages bucky speaks to people: English and Simplified Chinese. The panel takes
 * the browser's (Accept-Language), the commands the environment's (LC_ALL, LC_MESSAGES,
 * LANG, as POSIX orders them). Any Chinese is shown in Simplified Chinese; anything else
 * in English.
 */
export const LANGUAGES = ["en", "zh-CN"] as const;
export type Language = (typeof LANGUAGES)[number];

/** The language for an Accept-Language header: the first supported one by weight. */
export function languageOfAcceptLanguage(header: string | null | undefined): Language {
  if (!header) return "en";
  const ranked = header
    .split(",")
    .slice(0, 32)
    .map((part, index) => {
      const [tag = "", ...params] = part.trim().split(";");
      const q = params.map((p) => /^\s*q=([0-9.]+)\s*$/.exec(p)?.[1]).find(Boolean);
      return { tag: tag.trim().toLowerCase(), weight: q === undefined ? 1 : Number(q), index };
    })
    .filter(({ weight, tag }) => weight > 0 && tag !== "")
    .sort((a, b) => b.weight - a.weight || a.index - b.index);
  for (const { tag } of ranked) {
    const language = supported(tag);
    if (language) return language;
  }
  return "en";
}

/** The language for the environment's locale variables (`zh_CN.UTF-8` is Chinese). */
export function languageOfLocale(env: {
  readonly LC_ALL?: string | undefined;
  readonly LC_MESSAGES?: string | undefined;
  readonly LANG?: string | undefined;
}): Language {
  const locale = env.LC_ALL || env.LC_MESSAGES || env.LANG || "";
  return supported(locale.split(".")[0]?.replace("_", "-").toLowerCase() ?? "") ?? "en";
}

function supported(tag: string): Language | undefined {
  if (tag === "zh" || tag.startsWith("zh-")) return "zh-CN";
  if (tag === "en" || tag.startsWith("en-")) return "en";
  return undefined;
}
