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

/**
 * How a person signs in, and beside it a link of theirs used twice (maybe a theft) or a
 * password changed two ways at once: ways in that count for no one.
 */
function wayIn(p: PersonView): string {
  const newLink = `give them a new link with \`bucky user reset ${p.name}\``;
  const lost = [
    ...(p.linkUsedTwice
      ? [
          `their enrollment link was used twice, at two gateways at once: no way in it made counts (someone else may have had it); ${newLink}`,
        ]
      : []),
    ...(p.passwordChangedTwoWays
      ? [
          `their password was changed two ways at once, at two gateways: no password of theirs counts; ${newLink}`,
        ]
      : []),
  ];
  const ways =
    p.signsInWith.length > 0
      ? `signs in with ${p.signsInWith.join(" or ")}`
      : p.role === "owner"
        ? "signs in with `bucky login-link` on a device holding the owner key"
        : undefined;
  if (lost.length === 0) return ways ?? "has not opened their enrollment link yet";
  return [...(ways ? [ways] : []), ...lost].join("; ");
}
