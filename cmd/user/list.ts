/** `bucky user list`: the people of the zone, their roles and how they sign in. */
import { requestDaemon } from "../../lib/node/daemon-client.ts";
import type { PersonView } from "../../lib/users/accounts.ts";
import { defineBuckyCommand } from "../command.ts";

export default defineBuckyCommand({
  meta: { name: "list", description: "List the people of the zone and how each signs in" },
  args: {},
  run: (_args, context) =>
    requestDaemon<{ people: PersonView[] }>(context.home, "GET", "/v1/users"),
  text: ({ people }) => people.map((p) => `${p.name}  ${p.role}  ${wayIn(p)}`).join("\n"),
});

/** How a person signs in, and a link of theirs used twice (maybe a theft) beside it. */
function wayIn(p: PersonView): string {
  const usedTwice = `their enrollment link was used twice, at two gateways at once: no way in it made counts (someone else may have had it); give them a new link with \`bucky user reset ${p.name}\``;
  const ways =
    p.signsInWith.length > 0
      ? `signs in with ${p.signsInWith.join(" or ")}`
      : p.role === "owner"
        ? "signs in with `bucky login-link` on a device holding the owner key"
        : undefined;
  if (!p.linkUsedTwice) return ways ?? "has not opened their enrollment link yet";
  return ways ? `${ways}; ${usedTwice}` : usedTwice;
}
