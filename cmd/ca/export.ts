/** `bucky ca export`: the zone CA's root certificate, for the owner to trust on their devices. */
import { requestDaemon } from "../../lib/node/daemon-client.ts";
import { defineBuckyCommand } from "../command.ts";

export default defineBuckyCommand({
  meta: {
    name: "export",
    description:
      "Print the zone CA's root certificate (PEM): trust it on phones and laptops to reach gateways with local names over HTTPS",
    examples: ["bucky ca export > zone-ca.pem"],
  },
  args: {},
  run: (_args, context) =>
    requestDaemon<{ pem: string; fingerprint: string; notAfter: string }>(
      context.home,
      "POST",
      "/v1/ca",
    ),
  text: (root) => root.pem.trimEnd(),
});
