/**
 * The panel's one small script, served as a file (the pages' CSP allows no inline
 * script). Every page works without it; with it:
 *
 * - a part marked `data-live` follows long work as it goes: the script asks the address
 *   it names once a second for that part again, rendered by the server in the page's
 *   language, and stops when the answer says the work is over (`x-bucky-live: done`).
 *   Without the script such pages reload themselves every few seconds instead (noscript).
 * - times (`<time datetime>`) say how long ago in the page's language, kept fresh, and
 *   give the exact time in the browser's own time zone on hover, focus or tap;
 * - a copy button (`data-copy`, hidden until the script shows it) copies the text it names;
 * - a field marked `data-browser-time-zone` is given the browser's own time zone.
 */
export const PANEL_JS = `"use strict";
(() => {
  const lang = document.documentElement.lang || "en";
  const relative = new Intl.RelativeTimeFormat(lang, { numeric: "auto" });
  const exact = new Intl.DateTimeFormat(lang, { dateStyle: "medium", timeStyle: "short" });
  const steps = [[60, "second"], [60, "minute"], [24, "hour"], [30, "day"], [12, "month"], [Infinity, "year"]];
  const ago = (date) => {
    let value = (date.getTime() - Date.now()) / 1000;
    for (const [size, unit] of steps) {
      if (Math.abs(value) < size) return relative.format(Math.round(value), unit);
      value /= size;
    }
    return "";
  };
  const times = (root) => {
    for (const time of root.querySelectorAll("time[datetime]")) {
      const date = new Date(time.dateTime);
      if (Number.isNaN(date.getTime())) continue;
      time.title = exact.format(date);
      if (time.dataset.relative !== undefined) time.textContent = ago(date);
    }
  };
  const copies = (root) => {
    for (const button of root.querySelectorAll("button[data-copy]")) {
      const source = document.getElementById(button.dataset.copy);
      if (!source || !navigator.clipboard) continue;
      button.hidden = false;
      button.addEventListener("click", async () => {
        await navigator.clipboard.writeText(source.textContent.trim());
        button.textContent = button.dataset.copied || button.textContent;
      });
    }
  };
  const follow = async (part) => {
    for (;;) {
      await new Promise((resolve) => setTimeout(resolve, 1000));
      let answer;
      try {
        answer = await fetch(part.dataset.live, { credentials: "same-origin", headers: { accept: "text/html" } });
      } catch {
        continue;
      }
      if (!answer.ok) return;
      part.innerHTML = await answer.text();
      times(part);
      copies(part);
      if (answer.headers.get("x-bucky-live") === "done") {
        part.removeAttribute("aria-busy");
        return;
      }
    }
  };
  const zone = Intl.DateTimeFormat().resolvedOptions().timeZone;
  for (const field of document.querySelectorAll("input[data-browser-time-zone]")) {
    if (zone) field.value = zone;
  }
  times(document);
  copies(document);
  setInterval(() => times(document), 30000);
  for (const part of document.querySelectorAll("[data-live]")) follow(part);
})();
`;
