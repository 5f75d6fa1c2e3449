// The anchor for bench/startup.ts: a compiled Bun binary that does nothing.
