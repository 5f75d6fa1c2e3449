/** `bucky version`: which bucky this is (also `bucky --version`). */
import { defineBuckyCommand } from "./command.ts";
import { VERSION } from "./version-info.ts";

export default defineBuckyCommand({
  meta: { name: "version", description: "Print the version of bucky and of its runtime" },
  args: {},
  run: () => ({ version: VERSION, runtime: `bun ${Bun.version}` }),
  text: (result) => `bucky ${result.version} (${result.runtime})`,
});
