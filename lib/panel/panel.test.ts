/**
 * What each session may reach in the panel, in-process: the local API it would call is a
 * stand-in that notes every request, so a page refused is one that asked nothing of it.
 */
import { describe, expect, test } from "bun:test";
import type { DeviceId } from "../../protocol/ids.ts";
import type { Viewer } from "../users/access.ts";
import { createPanel } from "./panel.tsx";

const device: Viewer = { kind: "device", device: "dtest" as DeviceId, deviceName: "phone" };

function panelFor(viewer: Viewer) {
  const asked: string[] = [];
  const panel = createPanel((request) => {
    asked.push(new URL(request.url).pathname);
    return Response.json(
      { error: { code: "E_NOT_FOUND", message: "a stand-in" } },
      { status: 404 },
    );
  });
  const get = (path: string) =>
    panel.request(`http://gw.test/_bucky/panel/${path}`, {}, { viewer });
  return { asked, get };
}

describe("a device's session in the panel", () => {
  test("sees the backup targets, but reads nothing out of a snapshot (that takes this device's backup key)", async () => {
    const { asked, get } = panelFor(device);
    for (const path of [
      "backups/t/usb",
      "backups/t/usb/s/0123abcd",
      "backups/t/usb/s/0123abcd?path=data",
      "backups/t/usb/s/0123abcd/download?path=data/photos/cat.jpg",
    ]) {
      const answer = await get(path);
      expect({ path, status: answer.status }).toEqual({ path, status: 403 });
    }
    expect(asked.filter((p) => p.startsWith("/v1/backups/"))).toEqual([]);
    expect((await get("backups")).status).toBe(200);
  });
});
