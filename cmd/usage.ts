/** `--help` text for a command or a group, rendered from the same definitions citty runs. */
import type { ArgsDef, CommandDef } from "citty";
import { type Meta, resolveValue } from "./command.ts";
import { globalArgs } from "./context.ts";

export async function renderUsage(command: CommandDef, path: string): Promise<string> {
  const meta = (await resolveValue(command.meta)) as Partial<Meta> | undefined;
  const args = ((await resolveValue(command.args)) ?? {}) as ArgsDef;
  const subCommands = await resolveValue(command.subCommands);
  const lines: string[] = [meta?.description ?? "", ""];

  const positionals = Object.entries(args).filter(([, def]) => def.type === "positional");
  const usage = [path];
  if (subCommands) usage.push("<command>");
  for (const [name, def] of positionals)
    usage.push(def.required === false ? `[${name}]` : `<${name}>`);
  usage.push("[options]");
  lines.push(`Usage: ${usage.join(" ")}`, "");

  if (subCommands) {
    const rows: [string, string][] = [];
    for (const [name, sub] of Object.entries(subCommands)) {
      const subMeta = await resolveValue((await resolveValue(sub)).meta);
      if (!subMeta?.hidden) rows.push([name, subMeta?.description ?? ""]);
    }
    lines.push("Commands:", ...table(rows), "");
  }
  if (positionals.length > 0) {
    lines.push(
      "Arguments:",
      ...table(positionals.map(([name, def]) => [name, def.description ?? ""])),
      "",
    );
  }
  const own = Object.entries(args).filter(
    ([name, def]) => def.type !== "positional" && !(name in globalArgs),
  );
  if (own.length > 0)
    lines.push("Options:", ...table(own.map(([name, def]) => optionRow(name, def))), "");
  lines.push(
    "Global options:",
    ...table(Object.entries(globalArgs).map(([name, def]) => optionRow(name, def))),
    "",
  );
  if (meta?.examples?.length)
    lines.push("Examples:", ...meta.examples.map((example) => `  ${example}`), "");
  if (subCommands) lines.push(`Run \`${path} <command> --help\` for more about a command.`);
  return lines.join("\n").trimEnd();
}

function optionRow(name: string, def: ArgsDef[string]): [string, string] {
  const alias = "alias" in def && typeof def.alias === "string" ? `-${def.alias}, ` : "";
  const value = def.type === "string" || def.type === "enum" ? ` <${def.valueHint ?? name}>` : "";
  return [`${alias}--${name}${value}`, def.description ?? ""];
}

function table(rows: readonly [string, string][]): string[] {
  const width = Math.max(...rows.map(([left]) => left.length));
  return rows.map(([left, right]) => `  ${left.padEnd(width)}  ${right}`.trimEnd());
}
