import { expect, test } from "bun:test";
import type { Socket } from "bun";
import { tcpEnd } from "./pipe.ts";

/** A loopback listener whose one connection is made a TCP end (its drain limit as given). */
function listenWithEnd(drainLimitMs?: number) {
  const server = Promise.withResolvers<ReturnType<typeof tcpEnd>>();
  const listener = Bun.listen<{ end?: ReturnType<typeof tcpEnd> }>({
    hostname: "127.0.0.1",
    port: 0,
    socket: {
      open(socket) {
        const end = tcpEnd(socket as Socket<unknown>, drainLimitMs);
        socket.data = { end };
        server.resolve(end);
      },
      data() {},
      drain: (socket) => socket.data.end?.flush(),
    },
  });
  return { listener, server };
}

test("a TCP end closed with bytes still waiting sends them all, then ends", async () => {
  const total = 16 * 1024 * 1024;
  const { listener, server } = listenWithEnd();
  try {
    const received = Promise.withResolvers<number>();
    let got = 0;
    // Reads nothing until the end is closed: the kernel's buffers fill, the rest waits.
    const reader = await Bun.connect({
      hostname: "127.0.0.1",
      port: listener.port,
      socket: {
        open: (socket) => socket.pause(),
        data(_socket, chunk) {
          got += chunk.length;
        },
        close: () => received.resolve(got),
      },
    });
    const end = await server.promise;
    let waited = false;
    for (let sent = 0; sent < total; sent += 1024 * 1024)
      if (!end.send(new Uint8Array(1024 * 1024).fill(7))) waited = true;
    expect(waited).toBe(true);
    end.close();
    reader.resume();
    expect(await received.promise).toBe(total);
  } finally {
    listener.stop(true);
  }
});

test("a TCP end closed with bytes still waiting is cut when its reader takes none of them", async () => {
  const { listener, server } = listenWithEnd(200);
  try {
    const closed = Promise.withResolvers<void>();
    // A reader that stopped for good: the kernel's buffers fill, and nothing more goes.
    const reader = await Bun.connect({
      hostname: "127.0.0.1",
      port: listener.port,
      socket: { open: (socket) => socket.pause(), data() {}, close: () => closed.resolve() },
    });
    const end = await server.promise;
    for (let sent = 0; sent < 16; sent++) end.send(new Uint8Array(1024 * 1024).fill(7));
    const closedAt = performance.now();
    end.close();
    await closed.promise;
    // Cut after the limit (the reader never resumes, so only the cut closes it).
    expect(performance.now() - closedAt).toBeGreaterThanOrEqual(190);
    reader.terminate();
  } finally {
    listener.stop(true);
  }
});

test("a TCP end closed with bytes still waiting is cut when its reader takes them a byte at a time", async () => {
  // A socket whose reader takes one byte at each drain: never nothing, never enough.
  let full = true;
  const { socket, terminated } = fakeSocket((chunk) => (full ? 0 : Math.min(1, chunk.length)));
  const end = tcpEnd(socket, 200);
  end.send(new Uint8Array(64 * 1024));
  full = false;
  end.close();
  const startedAt = performance.now();
  while (!terminated() && performance.now() - startedAt < 2_000) {
    end.flush();
    await Bun.sleep(20);
  }
  expect(terminated()).toBe(true);
  expect(performance.now() - startedAt).toBeGreaterThanOrEqual(190);
});

test("a closing TCP end whose socket closes another way lets go at once of what waited and of its drain watch", async () => {
  const drainLimitMs = 20;
  let writable = false;
  let written = 0;
  const { socket, terminated } = fakeSocket((chunk) => {
    if (!writable) return 0;
    written += chunk.length;
    return chunk.length;
  });
  const end = tcpEnd(socket, drainLimitMs);
  end.send(new Uint8Array(1024 * 1024));
  // Closing: the MiB waits for a reader, watched by the drain limit.
  end.close();
  // Its reader hung up (the socket's close handler says so).
  end.closed();
  // A drain that comes late finds nothing left to send.
  writable = true;
  end.flush();
  expect(written).toBe(0);
  // Timers fire in the order they fall due: by the time this one has, the watch's would have.
  await Bun.sleep(4 * drainLimitMs);
  expect(terminated()).toBe(false);
});

/** A socket that writes as `write` says, and tells whether it was terminated. */
function fakeSocket(write: (chunk: Uint8Array) => number): {
  socket: Socket<unknown>;
  terminated: () => boolean;
} {
  let terminated = false;
  const socket = {
    write,
    end: () => {},
    terminate: () => {
      terminated = true;
    },
    pause: () => {},
    resume: () => {},
  } as unknown as Socket<unknown>;
  return { socket, terminated: () => terminated };
}
