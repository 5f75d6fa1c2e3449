/** `bucky zone show`: the zone and device documents, decoded after they verified. */
import { type DescribedDocument, describeZone } from "../../lib/zone/describe.ts";
import { defineBuckyCommand } from "../command.ts";

export default defineBuckyCommand({
  meta: { name: "show", description: "Show the zone's signed documents, verified and decoded" },
  args: {
    raw: {
      type: "boolean",
      description: "Print the documents as compact JWS strings, one per line",
    },
  },
  run: (_args, context) => describeZone(context.home, context.log),
  text(description, args) {
    const documents = [description.zone, ...description.devices];
    if (args.raw) return documents.map((doc) => doc.jws).join("\n");
    return [
      section("Zone document", description.zone),
      ...description.devices.map((doc) => section(`Device document: ${doc.name}`, doc)),
    ].join("\n\n");
  },
});

function section(title: string, doc: DescribedDocument): string {
  return [
    `${title} (signature verified)`,
    `  id        ${doc.id}`,
    `  issued    ${doc.issuedAt}`,
    `  header    ${JSON.stringify(doc.header)}`,
    `  payload   ${JSON.stringify(doc.payload)}`,
  ].join("\n");
}
