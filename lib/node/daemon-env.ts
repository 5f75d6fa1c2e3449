/**
 * What a daemon started in the background (`bucky up`, `bucky join`, the systemd unit) has
 * in its environment beside what it inherits: settings the runtime reads once, at its
 * start, which the daemon cannot then give itself.
 *
 * MIMALLOC_PURGE_HOLES_MIN_INTERVAL: Bun's allocator (mimalloc) hands freed memory back to
 * the system up to ten times a second, from a scavenger thread. Under a gateway's load that
 * thread cost 12–16 µs of CPU a request, and an idle daemon woke for it about twice a
 * second. At most once a second, the thread ran a third to a half as much, and an idle
 * daemon spent 120 ms of CPU a minute against 133–156, holding the same memory (measured:
 * docs/performance.md). Turning the purge off saved more but held 20 MB more after load.
 *
 * BUN_CONFIG_MAX_HTTP_REQUESTS: how many fetches the runtime runs at once in the process,
 * 256 unless set; past it, every fetch waits. A gateway holds one for each request it
 * forwards until the answer has passed (an event stream holds one for as long as it
 * lasts), and the daemon's own calls (sync, health checks, ACME) wait behind them: some
 * hundreds of held requests stopped the whole node. The gateway keeps within this less a
 * part for the daemon (lib/gateway/forward-budget.ts), and within its file descriptors.
 */
/**
 * What its console (stderr: daemon.out in the background, the journal under systemd) is
 * told: errors only. bucky.log, rotated, has every line; a console that kept them (a line
 * per request, a warning per connection a relay refuses) grew with anyone's connections,
 * daemon.out never rotated, the journal pushing out the rest of the system's logs.
 */
export const DAEMON_CONSOLE_ARGS: readonly string[] = ["--log-level", "error"];

export const DAEMON_ENV: Readonly<Record<string, string>> = {
  MIMALLOC_PURGE_HOLES_MIN_INTERVAL: "1000",
  BUN_CONFIG_MAX_HTTP_REQUESTS: "4096",
};
