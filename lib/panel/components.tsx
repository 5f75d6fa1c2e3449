/**
 * The panel's building blocks. Each reads the page's language from the Locale context,
 * so a page passes its data, never its words.
 */
import { type Child, createContext, type FC, useContext } from "hono/jsx";
import { exactTime, relativeTime } from "../i18n/format.ts";
import type { Language } from "../i18n/language.ts";
import type { Messages } from "../i18n/messages.ts";
import type { ApiError, ApiResult } from "../node/local-client.ts";
import { formatBytes } from "../units.ts";

export interface Locale {
  readonly t: Messages;
  readonly language: Language;
  /** The time the page is made at, for "3 minutes ago". */
  readonly nowMs: number;
}

export const LocaleContext = createContext<Locale | undefined>(undefined);

export function useLocale(): Locale {
  const locale = useContext(LocaleContext);
  if (!locale) throw new Error("a panel component rendered outside its Locale");
  return locale;
}

/** A time as "3 minutes ago", with the exact time on hover, focus or tap. */
export const Time: FC<{ iso: string | null | undefined }> = ({ iso }) => {
  const { t, language, nowMs } = useLocale();
  if (!iso) return <span class="muted">{t.common.never}</span>;
  return (
    <time datetime={iso} title={exactTime(iso, language)} tabindex={0} data-relative="">
      {relativeTime(iso, nowMs, language)}
    </time>
  );
};

/** How a status word looks: good, bad, or neither. */
const GOOD = new Set(["online", "running", "direct", "sound", "done", "accepted"]);
const BAD = new Set([
  "offline",
  "failed",
  "revoked",
  "quarantined",
  "unhealthy",
  "crashed",
  "damaged",
  "refused",
  "nearly full",
]);

/** A status word, in the page's language, in a tag whose colour says good or bad. */
export const Tag: FC<{ value: string }> = ({ value }) => {
  const { t } = useLocale();
  const words = t.status as Record<string, string>;
  const tone = GOOD.has(value) ? " good" : BAD.has(value) ? " bad" : "";
  return <span class={`tag${tone}`}>{words[value] ?? value}</span>;
};

/** A button that posts a form (no script needed), with hidden fields. */
export const Action: FC<{
  action: string;
  label: string;
  danger?: boolean;
  secondary?: boolean;
  fields?: Record<string, string>;
}> = (props) => (
  <form class="inline" method="post" action={props.action}>
    {Object.entries(props.fields ?? {}).map(([name, value]) => (
      <input type="hidden" name={name} value={value} />
    ))}
    <button
      type="submit"
      class={props.danger ? "danger" : props.secondary ? "secondary" : undefined}
    >
      {props.label}
    </button>
  </form>
);

/** Something that cannot be undone: opened first, then confirmed with a red button. */
export const Confirm: FC<{
  summary: string;
  text: string;
  action: string;
  label: string;
  fields?: Record<string, string>;
}> = (props) => (
  <details>
    <summary>{props.summary}</summary>
    <p>{props.text}</p>
    <Action action={props.action} label={props.label} danger={true} fields={props.fields ?? {}} />
  </details>
);

export interface Column<T> {
  readonly label: string;
  readonly cell: (row: T) => Child;
}

/** A table on a wide screen; on a phone, one card per row, each value under its label. */
export function Cards<T>(props: {
  columns: readonly Column<T>[];
  rows: readonly T[];
  caption?: string;
}) {
  return (
    <table class="cards">
      {props.caption ? <caption class="muted">{props.caption}</caption> : null}
      <thead>
        <tr>
          {props.columns.map((column) => (
            <th scope="col">{column.label}</th>
          ))}
        </tr>
      </thead>
      <tbody>
        {props.rows.map((row) => (
          <tr>
            {props.columns.map((column) => (
              <td data-label={column.label}>{column.cell(row)}</td>
            ))}
          </tr>
        ))}
      </tbody>
    </table>
  );
}

/** How far long work has come: a bar and words ("12.0 MiB of 40.0 MiB"). */
export const Progress: FC<{
  progress: { done: number; total: number | null; unit: "bytes" | "files" } | null;
  label: string;
}> = ({ progress, label }) => {
  const { t } = useLocale();
  if (!progress) return <progress aria-label={label} />;
  const done = progress.unit === "bytes" ? formatBytes(progress.done) : String(progress.done);
  if (progress.total === null || progress.total === 0)
    return (
      <>
        <progress aria-label={label} />
        <p class="hint">{t.jobs.doneSoFar({ done })}</p>
      </>
    );
  const total = progress.unit === "bytes" ? formatBytes(progress.total) : String(progress.total);
  return (
    <>
      <progress
        aria-label={label}
        value={Math.min(progress.done, progress.total)}
        max={progress.total}
      />
      <p class="hint">{t.jobs.doneOf({ done, total })}</p>
    </>
  );
};

/** What an answer of the local API shows: `view` of its data, or what went wrong. */
export function shown<T>(result: ApiResult<T>, view: (data: T) => Child): Child {
  return result.ok ? view(result.data) : <Failure error={result.error} />;
}

export const Failure: FC<{ error: ApiError }> = ({ error }) => (
  <div class="notice error" role="alert">
    {error.message}
    {error.hint && !asksForCommand(error.hint) ? <div class="hint">{error.hint}</div> : null}
  </div>
);

/**
 * Whether a hint tells the person to type a command: the panel never shows one of those
 * (every hint there is a button or a link); the message says what went wrong all the same.
 */
export function asksForCommand(hint: string): boolean {
  return /`bucky |`ssh|`apt|--[a-z]/.test(hint);
}

/** A button the script shows that copies the text of element `target`. */
export const CopyButton: FC<{ target: string }> = ({ target }) => {
  const { t } = useLocale();
  return (
    <button type="button" class="secondary" data-copy={target} data-copied={t.common.copied} hidden>
      {t.common.copy}
    </button>
  );
};
