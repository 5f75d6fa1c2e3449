import { describe, expect, test } from "bun:test";
import { AppDoors, portDoor } from "../apps/door.ts";
import { createLog } from "../log.ts";
import type { AppPipe } from "./app-pipe.ts";
import { appPipeOnDemand } from "./app-pipe-on-demand.ts";

/** A pipe that says when it was started and stopped, and the lines logged; its first `failures` starts fail. */
function fakes(failures = 0) {
  const events: string[] = [];
  const lines: string[] = [];
  let release: () => void = () => {};
  const gate = new Promise<void>((resolve) => {
    release = resolve;
  });
  const start = async (): Promise<AppPipe> => {
    events.push("start");
    await gate;
    if (failures-- > 0) throw new Error("EMFILE");
    return {
      port: 4321,
      take: () => {
        throw new Error("not in these tests");
      },
      stop: () => events.push("stop"),
    };
  };
  const log = createLog({ level: "info", write: (line) => lines.push(line) });
  return { events, lines, start, log, release };
}

describe("the app pipe listens from the first app this device runs", () => {
  test("no app: not started, no port", async () => {
    const { events, start, log, release } = fakes();
    const pipe = appPipeOnDemand(new AppDoors(), start, log);
    release();
    await Bun.sleep(0);
    expect(events).toEqual([]);
    expect(pipe.port()).toBeUndefined();
  });

  test("started once, at the first door; its port given once it listens; stopped with the node", async () => {
    const { events, start, log, release } = fakes();
    const doors = new AppDoors();
    const pipe = appPipeOnDemand(doors, start, log);
    doors.set("notes", portDoor(1));
    doors.set("photos", portDoor(2));
    expect(events).toEqual(["start"]);
    expect(pipe.port()).toBeUndefined();
    release();
    await Bun.sleep(0);
    expect(pipe.port()).toBe(4321);
    doors.set("notes", undefined);
    doors.set("notes", portDoor(3));
    pipe.stop();
    expect(events).toEqual(["start", "stop"]);
  });

  test("a door there already: started at once", () => {
    const { events, start, log } = fakes();
    const doors = new AppDoors();
    doors.set("notes", portDoor(1));
    appPipeOnDemand(doors, start, log);
    expect(events).toEqual(["start"]);
  });

  test("stopped while starting: the pipe is stopped as soon as it listens", async () => {
    const { events, start, log, release } = fakes();
    const doors = new AppDoors();
    const pipe = appPipeOnDemand(doors, start, log);
    doors.set("notes", portDoor(1));
    pipe.stop();
    release();
    await Bun.sleep(0);
    expect(events).toEqual(["start", "stop"]);
    expect(pipe.port()).toBeUndefined();
  });

  test("a pipe that cannot start is logged; no port, so gateways keep the ingress", async () => {
    const { lines, start, log, release } = fakes(1);
    const doors = new AppDoors();
    const pipe = appPipeOnDemand(doors, start, log);
    doors.set("notes", portDoor(1));
    release();
    await Bun.sleep(0);
    expect(pipe.port()).toBeUndefined();
    expect(lines.join("")).toContain("the app pipe could not start");
    pipe.stop();
  });

  test("a pipe that could not start is tried again, waiting twice as long each time, until it listens", async () => {
    const { events, lines, start, log, release } = fakes(2);
    release();
    const doors = new AppDoors();
    doors.set("notes", portDoor(1));
    const pipe = appPipeOnDemand(doors, start, log, 5);
    for (let waited = 0; pipe.port() === undefined && waited < 2_000; waited += 5)
      await Bun.sleep(5);
    expect(pipe.port()).toBe(4321);
    expect(events).toEqual(["start", "start", "start"]);
    expect(lines.map((line) => /retryInMs=(\d+)/.exec(line)?.[1])).toEqual(["5", "10"]);
    pipe.stop();
  });

  test("no app left when it is to be tried again: not tried, and started by the next first app", async () => {
    const retryMs = 5;
    const { events, lines, start, log, release } = fakes(1);
    release();
    const doors = new AppDoors();
    doors.set("notes", portDoor(1));
    const pipe = appPipeOnDemand(doors, start, log, retryMs);
    while (!lines.join("").includes("the app pipe could not start")) await Bun.sleep(0);
    doors.set("notes", undefined);
    // Timers fire in the order they fall due: by the time this one has, the retry's has.
    await Bun.sleep(4 * retryMs);
    await Bun.sleep(0);
    expect(events).toEqual(["start"]);
    expect(pipe.port()).toBeUndefined();
    doors.set("photos", portDoor(2));
    expect(events).toEqual(["start", "start"]);
    await Bun.sleep(0);
    expect(pipe.port()).toBe(4321);
    pipe.stop();
  });

  test("stopped while waiting to try again: not tried again", async () => {
    const { events, start, log, release } = fakes(1);
    release();
    const doors = new AppDoors();
    doors.set("notes", portDoor(1));
    const pipe = appPipeOnDemand(doors, start, log, 5);
    await Bun.sleep(0);
    pipe.stop();
    await Bun.sleep(30);
    expect(events).toEqual(["start"]);
  });
});
