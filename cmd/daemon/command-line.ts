/** The command that starts this same bucky: the compiled binary, or bun and the entry script. */
export function buckyCommandLine(): string[] {
  // In a compiled binary the entry script lives in Bun's embedded file system.
  return Bun.main.startsWith("/$bunfs/") ? [process.execPath] : [process.execPath, Bun.main];
}
