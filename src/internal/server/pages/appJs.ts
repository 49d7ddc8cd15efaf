/**
 * The pages' one script, served from /assets/app.js: live updates and relative times, nothing else.
 * Plain ES2020 with no build step. It never builds HTML from strings: a changed page is fetched
 * whole (the server escaped it), parsed with DOMParser, and its `[data-live]` elements replace
 * the current ones by id. Every page works without it.
 * @internal
 */
export const appJs = String.raw`"use strict";
(() => {
  const body = document.body;
  const eventsUrl = body.dataset.events;
  const watchAll = body.dataset.watch === "all";

  // Relative times: "12s ago", the UTC time kept as the title.
  const relative = (ms) => {
    const s = Math.round((Date.now() - ms) / 1000);
    const abs = Math.abs(s);
    const unit = abs < 60 ? [abs, "s"] : abs < 3600 ? [Math.floor(abs / 60), "min"]
      : abs < 86400 ? [Math.floor(abs / 3600), "h"] : [Math.floor(abs / 86400), "d"];
    return s >= 0 ? unit[0] + " " + unit[1] + " ago" : "in " + unit[0] + " " + unit[1];
  };
  const showTimes = (root) => {
    for (const el of root.querySelectorAll("time[datetime]")) {
      const ms = Date.parse(el.getAttribute("datetime"));
      if (Number.isNaN(ms)) continue;
      if (!el.title) el.title = el.textContent;
      el.textContent = relative(ms);
    }
  };
  showTimes(document);
  setInterval(() => { if (!document.hidden) showTimes(document); }, 15000);

  // Live parts: re-fetch this page's own URL, swap each [data-live] element by id.
  let inFlight = false;
  let again = false;
  const refresh = async () => {
    if (inFlight) { again = true; return; }
    inFlight = true;
    try {
      const response = await fetch(location.href, { credentials: "same-origin", headers: { accept: "text/html" } });
      if (response.ok) {
        const fresh = new DOMParser().parseFromString(await response.text(), "text/html");
        for (const el of document.querySelectorAll("[data-live][id]")) {
          const next = fresh.getElementById(el.id);
          if (next === null) continue;
          const node = document.importNode(next, true);
          showTimes(node);
          el.replaceWith(node);
        }
        followLogs();
      }
    } catch (e) {
      // The next change tries again.
    } finally {
      inFlight = false;
      if (again) { again = false; refresh(); }
    }
  };
  const concerns = (ids) => watchAll || ids.some((id) => document.querySelector('[data-run-id="' + CSS.escape(id) + '"]') !== null);

  // The change feed: closed while the tab is hidden, reopened from the last event seen.
  let source = null;
  let lastId = "";
  const open = () => {
    if (eventsUrl === undefined || source !== null) return;
    source = new EventSource(lastId === "" ? eventsUrl : eventsUrl + "?lastEventId=" + encodeURIComponent(lastId));
    source.addEventListener("change", (event) => {
      lastId = event.lastEventId || lastId;
      let ids = [];
      try { ids = JSON.parse(event.data).runs || []; } catch (e) { ids = []; }
      if (concerns(ids)) refresh();
    });
    source.addEventListener("reset", (event) => { lastId = event.lastEventId || lastId; refresh(); });
    // Connected with nothing to resume from (first open, or back from hidden): the feed reports what
    // changes from now on, so what changed since the page was rendered is looked at once.
    source.addEventListener("open", () => { if (lastId === "") refresh(); });
  };
  const close = () => { if (source !== null) { source.close(); source = null; } };
  document.addEventListener("visibilitychange", () => {
    if (document.hidden) { close(); return; }
    open();
    followLogs();
  });
  if (!document.hidden) open();

  // Logs of a running run: ask for the lines after the last one shown; the server answers when some arrive.
  let following = false;
  const followLogs = async () => {
    const logs = document.getElementById("logs");
    if (following || logs === null || logs.dataset.follow === undefined || document.hidden) return;
    following = true;
    try {
      const url = logs.dataset.follow + "?wait=1&after=" + encodeURIComponent(logs.dataset.after || "0");
      const response = await fetch(url, { credentials: "same-origin", headers: { accept: "text/html" } });
      if (!response.ok) return;
      const fresh = new DOMParser().parseFromString(await response.text(), "text/html");
      const current = document.getElementById("logs");
      const lines = current === null ? null : current.querySelector("#log-lines");
      if (lines === null) return;
      // A page refresh may have swapped in lines this answer also holds: append only newer ones.
      const shown = Number(current.dataset.after || "0");
      for (const line of fresh.querySelectorAll(".log-line")) {
        if (Number(line.dataset.seq) > shown) lines.append(document.importNode(line, true));
      }
      const after = fresh.getElementById("logs");
      if (after !== null) current.dataset.after = String(Math.max(shown, Number(after.dataset.after || "0")));
      if (after !== null && after.dataset.follow === undefined) delete current.dataset.follow;
      lines.scrollTop = lines.scrollHeight;
    } catch (e) {
      return;
    } finally {
      following = false;
    }
    setTimeout(followLogs, 250);
  };
  followLogs();
})();
`
