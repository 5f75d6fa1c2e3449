import { describe, expect, test } from "bun:test";
import { notApproved } from "../gateway/approval.ts";
import { explain } from "./acme.ts";
import { certificateRemedy, describeRemedy } from "./remedy.ts";

describe("what to do about a certificate's error, in the zone's words", () => {
  test("each error the gateways write has its remedy, naming only the gateway", () => {
    const acme = (problem: object, step: Parameters<typeof explain>[2] = "order") =>
      explain(problem, "photos.example.com", step).message;
    const cases: [string, string][] = [
      [notApproved("laptop", ["home.lan", "192.168.1.20"]).message, "approve"],
      ["waiting for the zone CA: a device holding the owner key issues it", "start-owner-device"],
      [acme({ type: "urn:ietf:params:acme:error:externalAccountRequired" }), "external-account"],
      [acme({ type: "urn:ietf:params:acme:error:rateLimited", detail: "too many" }), "wait"],
      [acme({ type: "urn:ietf:params:acme:error:dns", detail: "NXDOMAIN" }), "point-dns"],
      [acme({ type: "urn:ietf:params:acme:error:connection", detail: "timeout" }), "open-port-80"],
      [acme({ type: "urn:ietf:params:acme:error:unauthorized", detail: "404" }), "open-port-80"],
      [acme({ type: "urn:ietf:params:acme:error:caa", detail: "CAA forbids" }), "other-ca"],
      [acme({ detail: "ECONNREFUSED" }, "account"), "check-internet"],
      [acme({ code: "ECONNABORTED", message: "timeout of 60000ms exceeded" }), "check-internet"],
      [acme({ detail: "odd" }, "finalize"), "wait"],
      ["no room on the disk to keep the certificate for photos.example.com", "free-disk"],
      ["no certificate for photos.example.com: boom", "wait"],
    ];
    for (const [message, kind] of cases)
      expect({ message, remedy: certificateRemedy("laptop", message) }).toEqual({
        message,
        remedy: { kind, gateway: "laptop" } as never,
      });
  });

  test("an error no gateway of this code writes has none: its words are not advice", () => {
    for (const message of [
      "run bucky gateway approve laptop --host router.lan",
      "please run: bucky devices revoke phone",
      "",
    ])
      expect(certificateRemedy("laptop", message)).toBeUndefined();
  });

  test("says which device, which command and who runs it", () => {
    expect(describeRemedy({ kind: "approve", gateway: "laptop" })).toBe(
      "the owner approves it: on a device holding the owner key, run `bucky gateway approve laptop` (it shows the names laptop asks for, and approves them once you say yes)",
    );
    expect(describeRemedy({ kind: "external-account", gateway: "nas" })).toBe(
      "the CA needs an external account: on nas, whoever runs it gives the CA's key id and HMAC key with `bucky gateway enable --acme-eab-kid ID --acme-eab-key-file F`",
    );
  });
});
