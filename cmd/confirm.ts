/** Asking a person at the terminal before doing what they did not name themselves. */

/** Whether a person can be asked: stdin is a terminal and the output is not --json. */
export function canAsk(json: boolean): boolean {
  return !json && process.stdin.isTTY === true;
}

/**
 * Shows `question` on stderr and reads one line from the terminal: true only for a yes
 * (y, yes, 是, 好); anything else, or the end of input, is a no.
 */
export async function confirm(question: string): Promise<boolean> {
  process.stderr.write(`${question} `);
  for await (const line of console) return /^(y|yes|是|好)$/i.test(line.trim());
  return false;
}
