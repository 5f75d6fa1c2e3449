/** Names in a sentence, as English lists them: "a", "a and b", "a, b and c" ("" for none). */
export function listInSentence(items: readonly string[]): string {
  return items.length <= 1
    ? items.join("")
    : `${items.slice(0, -1).join(", ")} and ${items[items.length - 1]}`;
}
