/** "1 file", "2 files", "0 snapshots"; irregular nouns give their plural. */
export function plural(count: number, noun: string, many = `${noun}s`): string {
  return `${count.toLocaleString("en")} ${count === 1 ? noun : many}`;
}

/**
 * Rows under a header, each column as wide as its widest cell, two spaces apart. The
 * last column is not padded, so lines carry no trailing blanks.
 */
export function table(header: readonly string[], rows: readonly (readonly string[])[]): string {
  // Columns line up by what a terminal shows: a Chinese character takes two columns.
  const width = (text: string) => Bun.stringWidth(text);
  const widths = header.map((title, column) =>
    Math.max(width(title), ...rows.map((row) => width(row[column] ?? ""))),
  );
  const line = (cells: readonly string[]) =>
    cells
      .map((cell, column) =>
        column === cells.length - 1
          ? cell
          : cell + " ".repeat(Math.max(0, (widths[column] ?? 0) - width(cell))),
      )
      .join("  ")
      .trimEnd();
  return [line(header), ...rows.map(line)].join("\n");
}

/** How long ago a time was, roughly: "just now", "12 s ago", "5 min ago", "3 h ago", "2 days ago". */
export function ago(time: string, nowMs = Date.now()): string {
  const seconds = Math.max(0, Math.round((nowMs - Date.parse(time)) / 1000));
  if (seconds < 5) return "just now";
  if (seconds < 90) return `${seconds} s ago`;
  if (seconds < 90 * 60) return `${Math.round(seconds / 60)} min ago`;
  if (seconds < 36 * 3600) return `${Math.round(seconds / 3600)} h ago`;
  return `${plural(Math.round(seconds / 86400), "day")} ago`;
}

/**
 * A line as it may reach a terminal: control characters (a line break, an escape sequence
 * that moves the cursor or clears a line) shown escaped, `\n`, `\u001b`. For lines with
 * text other devices wrote (their facts), which could otherwise print a line of their own.
 */
export function printable(line: string): string {
  // biome-ignore lint/suspicious/noControlCharactersInRegex: finding them is the point.
  return line.replace(/[\u0000-\u001f\u007f-\u009f]/g, (c) =>
    c === "\n" ? "\\n" : `\\u${c.charCodeAt(0).toString(16).padStart(4, "0")}`,
  );
}
