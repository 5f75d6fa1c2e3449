/**
 * The recovery phrase: 24 BIP39 English words encoding 256 bits of entropy, and the keys
 * derived from that entropy with HKDF-SHA256 and a purpose label. The phrase alone
 * rebuilds the owner key (hence the zone id) and the backup key on a new box.
 */
import { hkdfSync } from "node:crypto";
import { entropyToMnemonic, mnemonicToEntropy, validateMnemonic } from "@scure/bip39";
import { wordlist } from "@scure/bip39/wordlists/english.js";
import { utf8 } from "./encoding.ts";
import { check } from "./errors.ts";

export const PHRASE_WORDS = 24;
export const ENTROPY_BYTES = 32;
const HKDF_SALT = utf8("bucky");

export type PhraseCheck =
  | { ok: true; entropy: Uint8Array }
  | { ok: false; reason: string; hint: string };

export function phraseFromEntropy(entropy: Uint8Array): string {
  check(entropy.length === ENTROPY_BYTES, `a recovery phrase encodes ${ENTROPY_BYTES} bytes`);
  return entropyToMnemonic(entropy, wordlist);
}

/**
 * Checks a phrase as typed: case and spacing do not matter, but every word must be in
 * the list and the checksum (carried by the last word) must match.
 */
export function checkPhrase(text: string): PhraseCheck {
  const words = text.toLowerCase().split(/\s+/).filter(Boolean);
  if (words.length !== PHRASE_WORDS) {
    return {
      ok: false,
      reason: `a recovery phrase has ${PHRASE_WORDS} words; this one has ${words.length}`,
      hint: "Type all 24 words, in order, separated by spaces.",
    };
  }
  const unknown = words.flatMap((word, index) => (wordIndex(word) < 0 ? [{ word, index }] : []));
  if (unknown.length > 0) {
    const listed = unknown.map(({ word, index }) => {
      const near = suggestWord(word);
      return `word ${index + 1} "${word}"${near ? ` (did you mean "${near}"?)` : ""}`;
    });
    return {
      ok: false,
      reason: `not in the BIP39 English word list: ${listed.join(", ")}`,
      hint: "Check the spelling of those words against what you wrote down.",
    };
  }
  const normalized = words.join(" ");
  if (!validateMnemonic(normalized, wordlist)) {
    return {
      ok: false,
      reason: "the phrase's checksum does not match: a word is wrong or two are swapped",
      hint: "Compare each word, in order, with what you wrote down.",
    };
  }
  return { ok: true, entropy: mnemonicToEntropy(normalized, wordlist) };
}

/** The 32-byte seed of the owner's Ed25519 key. */
export function deriveOwnerSeed(entropy: Uint8Array): Uint8Array {
  return derive(entropy, "bucky owner key v1");
}

/** The root secret backups are encrypted under (used by the backup repository). */
export function deriveBackupRoot(entropy: Uint8Array): Uint8Array {
  return derive(entropy, "bucky backup key v1");
}

function derive(entropy: Uint8Array, purpose: string): Uint8Array {
  check(entropy.length === ENTROPY_BYTES, `phrase entropy is ${ENTROPY_BYTES} bytes`);
  return new Uint8Array(hkdfSync("sha256", entropy, HKDF_SALT, utf8(purpose), 32));
}

function wordIndex(word: string): number {
  return wordlist.indexOf(word);
}

/** BIP39 words are unique in their first four letters, so those identify a misspelling. */
function suggestWord(word: string): string | undefined {
  if (word.length < 4) return undefined;
  return wordlist.find((candidate) => candidate.startsWith(word.slice(0, 4)));
}
