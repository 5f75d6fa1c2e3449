/** `bucky user list`: the people of the zone, their roles and how they sign in. */
import { requestDaemon } from "../../lib/node/daemon-client.ts";
import type { PersonView } from "../../lib/users/accounts.ts";
import { defineBuckyCommand } from "../command.ts";

export default defineBuckyCommand({
  meta: { name: "list", description: "List the people of the zone and how each signs in" },
  args: {},
  run: (_args, context) =>
    requestDaemon<{ people: PersonView[] }>(context.home, "GET", "/v1/users"),
  text: ({ people }) =>
    people
      .map(
        (p) =>
          `${p.name}  ${p.role}  ${
            p.signsInWith.length > 0
              ? `signs in with ${p.signsInWith.join(" or ")}`
              : p.role === "owner"
                ? "signs in with `bucky login-link` on a device holding the owner key"
                : p.linkUsedTwice
                  ? ""
                  : "has not opened their enrollment link yet"
          }${p.linkUsedTwice ? linkUsedTwice(p.name, p.signsInWith.length > 0) : ""}`,
      )
      .join("\n"),
});

/** Said of a person whose link was taken at two gateways: neither way in counts, maybe a theft. */
function linkUsedTwice(name: string, otherWayIn: boolean): string {
  return `${otherWayIn ? "; " : ""}their enrollment link was used twice, at two gateways at once: no way in it made counts (someone else may have had it); give them a new link with \`bucky user reset ${name}\``;
}
