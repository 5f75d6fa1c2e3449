/** Reading a secret the user types or pipes in (the recovery phrase, a token). */
import { BuckyError } from "../lib/errors.ts";

const MAX_INPUT_BYTES = 4096;

/**
 * From a terminal, prompts on stderr and reads one line; from a pipe or file, reads all
 * of it (up to a few KiB). The text is returned, never echoed or logged.
 */
export async function readSecretInput(
  prompt: string,
  tooLongHint = "Pipe in only the 24 words.",
): Promise<string> {
  if (process.stdin.isTTY) {
    process.stderr.write(prompt);
    for await (const line of console) return line;
    return "";
  }
  const chunks: Uint8Array[] = [];
  let size = 0;
  for await (const chunk of Bun.stdin.stream()) {
    size += chunk.length;
    if (size > MAX_INPUT_BYTES) {
      throw new BuckyError(
        "E_INVALID_INPUT",
        `the input on stdin is over ${MAX_INPUT_BYTES} bytes`,
        tooLongHint,
      );
    }
    chunks.push(chunk);
  }
  return Buffer.concat(chunks).toString("utf8");
}
