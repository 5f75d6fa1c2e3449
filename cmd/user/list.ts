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
                : "has not opened their enrollment link yet"
          }`,
      )
      .join("\n"),
});
