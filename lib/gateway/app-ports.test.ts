import { describe, expect, test } from "bun:test";
import type { Server } from "bun";
import { createLog } from "../log.ts";
import {
  APP_PORTS_RETRY_MS,
  AppListeners,
  type AppPortsRecord,
  assignAppPorts,
  encodeAppPorts,
  parseAppPorts,
} from "./app-ports.ts";

const none = new Set<number>();
const record = (
  ports: ReadonlyMap<string, number>,
  retired: ReadonlyMap<number, string> = new Map(),
  highest = Math.max(0, ...ports.values(), ...retired.keys()),
): AppPortsRecord => ({ ports, retired, highest });

describe("assignAppPorts", () => {
  test("a new app takes the lowest port above the gateway's that no app has", () => {
    const kept = new Map([["diary", 8082]]);
    expect(assignAppPorts(kept, ["notes", "diary", "photos"], 8080, new Set([8080]), none)).toEqual(
      new Map([
        ["diary", 8082],
        ["notes", 8081],
        ["photos", 8083],
      ]),
    );
  });

  test("an app keeps its port, whatever was installed since", () => {
    const kept = new Map([
      ["zeta", 8081],
      ["alpha", 8083],
    ]);
    expect(assignAppPorts(kept, ["alpha", "beta"], 8080, none, none)).toEqual(
      new Map([
        ["alpha", 8083],
        ["beta", 8081],
      ]),
    );
  });

  test("a new app's port is above every port an app had, even one no longer retired", () => {
    const kept = new Map([["notes", 8082]]);
    expect(assignAppPorts(kept, ["notes", "diary"], 8080, none, none, new Map(), 8090)).toEqual(
      new Map([
        ["notes", 8082],
        ["diary", 8091],
      ]),
    );
    // A gateway moved above them all starts above its own.
    expect(assignAppPorts(new Map(), ["diary"], 9000, none, none, new Map(), 8090)).toEqual(
      new Map([["diary", 9001]]),
    );
  });

  test("past the last port, the lowest free one above the gateway's, never a retired one", () => {
    const retired = new Map([[8081, "gone"]]);
    expect(
      assignAppPorts(new Map(), ["a", "b", "c"], 8080, none, new Set([8082]), retired, 65534),
    ).toEqual(
      new Map([
        ["a", 65535],
        ["b", 8083],
        ["c", 8084],
      ]),
    );
  });

  test("never a port of the gateway's own, nor one found held, nor one given twice", () => {
    const kept = new Map([
      ["notes", 9000],
      ["diary", 9000],
    ]);
    const ports = assignAppPorts(kept, ["notes", "diary"], 8999, new Set([9001]), new Set([9002]));
    expect(ports).toEqual(
      new Map([
        ["notes", 9000],
        ["diary", 9003],
      ]),
    );
    // A kept port found held since is given up for the next free one.
    expect(
      assignAppPorts(new Map([["notes", 9000]]), ["notes"], 8999, none, new Set([9000])),
    ).toEqual(new Map([["notes", 9001]]));
  });

  test("a port retired from an app goes to no other; that app back has it again", () => {
    const retired = new Map([
      [8081, "gone"],
      [8083, "back"],
    ]);
    expect(assignAppPorts(new Map(), ["new", "back"], 8080, none, none, retired)).toEqual(
      new Map([
        ["back", 8083],
        ["new", 8082],
      ]),
    );
  });

  test("an app back with several ports retired has the one it had last", () => {
    const retired = new Map([
      [8081, "notes"],
      [8082, "notes"],
    ]);
    expect(assignAppPorts(new Map(), ["notes"], 8080, none, none, retired)).toEqual(
      new Map([["notes", 8082]]),
    );
  });

  test("none past the last port", () => {
    expect(assignAppPorts(new Map(), ["a", "b"], 65534, none, none)).toEqual(
      new Map([["a", 65535]]),
    );
  });
});

describe("parseAppPorts", () => {
  test("reads what encodeAppPorts wrote", () => {
    const ports = new Map([
      ["notes", 8081],
      ["diary", 8082],
    ]);
    expect(parseAppPorts(encodeAppPorts(record(ports)))).toEqual(record(ports));
    const retired = new Map([[8083, "photos"]]);
    expect(parseAppPorts(encodeAppPorts(record(ports, retired)))).toEqual(record(ports, retired));
    expect(parseAppPorts(encodeAppPorts(record(ports, retired, 9000)))).toEqual(
      record(ports, retired, 9000),
    );
  });

  test("the highest port is never less than a port it lists (a record from before it was kept)", () => {
    const text = JSON.stringify({ v: 1, ports: { notes: 8085 }, retired: [[8087, "diary"]] });
    expect(parseAppPorts(text).highest).toBe(8087);
    for (const highest of [8086, "9000", -1, 70000, 8090.5])
      expect(parseAppPorts(JSON.stringify({ ...JSON.parse(text), highest })).highest).toBe(8087);
  });

  test("keeps only an app's name with a port, each port once; another shape is no port", () => {
    const text = JSON.stringify({
      v: 1,
      ports: {
        notes: 8081,
        "../x": 8082,
        Diary: 8083,
        photos: 0,
        music: 70000,
        books: 8081.5,
        maps: "8084",
        again: 8081,
      },
    });
    expect(parseAppPorts(text).ports).toEqual(new Map([["notes", 8081]]));
    for (const junk of ["", "{", "null", "[]", '{"v":2,"ports":{"notes":8081}}', '{"v":1}'])
      expect(parseAppPorts(junk)).toEqual(record(new Map()));
    // Retired: a port to an app's name, never a port an app has now.
    const retired = JSON.stringify({
      v: 1,
      ports: { notes: 8081 },
      retired: [
        [8081, "diary"],
        [8082, "photos"],
        [8083, "../x"],
        ["8085", "maps"],
        [8084, 7],
        8086,
      ],
    });
    expect(parseAppPorts(retired).retired).toEqual(new Map([[8082, "photos"]]));
    // In the order retired, whatever the ports: the longest retired goes first when too many.
    const order = record(
      new Map(),
      new Map([
        [8090, "b"],
        [8085, "a"],
      ]),
    );
    expect([...parseAppPorts(encodeAppPorts(order)).retired]).toEqual([
      [8090, "b"],
      [8085, "a"],
    ]);
  });
});

describe("AppListeners", () => {
  /**
   * Listeners whose `serve` fails on `held` ports, as another program's would, and whose
   * `publish` fails while `diskFull()` says so.
   */
  function listeners(
    published: ReadonlyMap<string, number>,
    held: ReadonlySet<number>,
    diskFull = () => false,
    retired: ReadonlyMap<number, string> = new Map(),
  ) {
    let nowMs = 0;
    const open = new Map<number, string>();
    const publishedPorts: ReadonlyMap<string, number>[] = [];
    const publishedRecords: AppPortsRecord[] = [];
    const lines: string[] = [];
    const set = new AppListeners({
      mainPort: 8080,
      reserved: new Set([8080]),
      published: record(published, retired),
      serve: (app, port) => {
        if (held.has(port)) throw new Error(`Failed to start server. Is port ${port} in use?`);
        open.set(port, app);
        return { stop: () => open.delete(port) } as unknown as Server<unknown>;
      },
      publish: (published) => {
        if (diskFull())
          throw Object.assign(new Error("database or disk is full"), { code: "SQLITE_FULL" });
        publishedPorts.push(published.ports);
        publishedRecords.push({ ...published, retired: new Map(published.retired) });
      },
      log: createLog({ level: "info", write: (line) => lines.push(line) }),
      now: () => nowMs,
    });
    const later = (ms: number) => {
      nowMs += ms;
    };
    return { set, open, publishedPorts, publishedRecords, lines, later };
  }

  test("listens for each app, publishes once, and keeps the ports published before", () => {
    const { set, open, publishedPorts } = listeners(new Map([["diary", 8085]]), new Set());
    set.sync(["diary", "notes"]);
    expect(open).toEqual(
      new Map([
        [8085, "diary"],
        [8086, "notes"],
      ]),
    );
    expect(set.portOf("notes")).toBe(8086);
    set.sync(["diary", "notes"]);
    expect(publishedPorts).toEqual([
      new Map([
        ["diary", 8085],
        ["notes", 8086],
      ]),
    ]);
  });

  test("a port another program holds is passed over for the next, and said", () => {
    const { set, open, lines } = listeners(new Map([["notes", 8081]]), new Set([8081, 8082]));
    set.sync(["notes"]);
    expect(open).toEqual(new Map([[8083, "notes"]]));
    expect(lines.filter((line) => line.includes("app port taken"))).toHaveLength(2);
  });

  test("a removed app's listener is closed, its port published as retired and given to no other app", () => {
    const { set, open, publishedRecords } = listeners(new Map(), new Set());
    set.sync(["notes", "diary"]);
    set.sync(["notes"]);
    expect(open).toEqual(new Map([[8082, "notes"]]));
    expect(set.portOf("diary")).toBeUndefined();
    expect(publishedRecords.at(-1)).toEqual(
      record(new Map([["notes", 8082]]), new Map([[8081, "diary"]])),
    );
    // A new app passes it over; diary, installed again, has it back.
    set.sync(["notes", "photos"]);
    expect(set.portOf("photos")).toBe(8083);
    set.sync(["notes", "photos", "diary"]);
    expect(set.portOf("diary")).toBe(8081);
    expect(publishedRecords.at(-1)?.retired).toEqual(new Map());
    expect(publishedRecords.at(-1)?.highest).toBe(8083);
  });

  test("an app whose port could not be listened on again keeps it from other apps", () => {
    const held = new Set<number>();
    const { set } = listeners(new Map(), held);
    set.sync(["notes"]);
    expect(set.portOf("notes")).toBe(8081);
    held.add(8081);
    set.restart();
    expect(set.portOf("notes")).toBeUndefined();
    // Free again by the next sync: notes has it back, and the new app (first by name) not.
    held.clear();
    set.sync(["notes", "diary"]);
    expect([set.portOf("notes"), set.portOf("diary")]).toEqual([8081, 8082]);
  });

  test("after a restart, apps published but gone keep their ports from others too", () => {
    const { set } = listeners(
      new Map([["diary", 8081]]),
      new Set(),
      () => false,
      new Map([[8082, "maps"]]),
    );
    set.sync(["photos"]);
    expect(set.portOf("photos")).toBe(8083);
  });

  test("an app moved off a port another program held keeps the old one from other apps; the next try finds it free", () => {
    const held = new Set([8081]);
    const { set, open } = listeners(new Map([["notes", 8081]]), held);
    set.sync(["notes"]);
    expect(set.portOf("notes")).toBe(8082);
    held.clear();
    set.sync(["notes", "diary"]);
    expect(open).toEqual(
      new Map([
        [8082, "notes"],
        [8083, "diary"],
      ]),
    );
  });

  test("ports it could not publish are tried again a while later, not at every refresh", () => {
    let full = true;
    const { set, publishedPorts, lines, later } = listeners(new Map(), new Set(), () => full);
    set.sync(["notes"]);
    set.sync(["notes"]);
    expect(lines.filter((line) => line.includes("app ports not published"))).toHaveLength(1);
    full = false;
    later(APP_PORTS_RETRY_MS - 1);
    set.sync(["notes"]);
    expect(publishedPorts).toEqual([]);
    later(1);
    set.sync(["notes"]);
    expect(publishedPorts).toEqual([new Map([["notes", 8081]])]);
  });

  test("a publication that refreshes the table, and so calls sync again, publishes once", () => {
    const publishedPorts: ReadonlyMap<string, number>[] = [];
    const set: AppListeners = new AppListeners({
      mainPort: 8080,
      reserved: new Set([8080]),
      published: record(new Map()),
      serve: () => ({ stop: () => {} }) as unknown as Server<unknown>,
      publish: (published) => {
        publishedPorts.push(published.ports);
        set.sync(["notes"]);
      },
      log: createLog({ level: "info", write: () => {} }),
      now: () => 0,
    });
    set.sync(["notes"]);
    expect(publishedPorts).toHaveLength(1);
  });
});
