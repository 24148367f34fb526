// The live view: keeps the first page of traces current, and keeps the filter URL tidy.
// Polling, not server-sent events: each poll is one short GET that any proxy passes, the server
// holds no connection per open tab, the poll answers 204 while nothing new was stored, and
// pausing while the tab is hidden is a clearTimeout. docs/ui.md has the longer reasoning.
(function () {
  "use strict";
  const form = document.getElementById("live-form");
  const results = document.getElementById("live-results");
  const status = document.getElementById("live-status");

  // Filters live in the URL: leave out empty fields so that a shared link shows only what is set.
  // (Without JavaScript the form still works; its URLs just carry the empty fields too.)
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    const query = new URLSearchParams();
    for (const [name, value] of new FormData(form)) {
      if (value.trim() && !(name === "since" && value === "all")) query.append(name, value);
    }
    const search = query.toString();
    window.location.assign(form.action + (search ? "?" + search : ""));
  });
  for (const id of ["service", "errors", "since"]) {
    document.getElementById(id).addEventListener("change", () => form.requestSubmit());
  }

  // A click anywhere on a row opens the trace (the message cell holds the real link, which also
  // serves middle-click, keyboard and copy-link); a click that ends a text selection does not.
  results.addEventListener("click", (event) => {
    const row = event.target.closest("tr[data-trace-id]");
    if (!row || event.target.closest("a") || String(window.getSelection())) return;
    const link = row.querySelector("td.message a");
    if (event.ctrlKey || event.metaKey) window.open(link.href);
    else window.location.assign(link.href);
  });
  // "/" jumps to the WHERE box, as in Logfire and most search UIs.
  document.addEventListener("keydown", (event) => {
    const typing = event.target.closest("input, textarea, select");
    if (event.key === "/" && !typing) {
      event.preventDefault();
      document.getElementById("where").focus();
    }
  });

  if (results.dataset.live !== "on") return;
  const interval = Number(results.dataset.pollMs) || 2000;
  let version = results.dataset.version;
  let timer = null;
  let polling = false;
  let failures = 0;

  function setStatus(state, text) {
    status.className = "live-status " + state;
    status.textContent = text;
  }

  function shownIds() {
    return new Set(Array.from(results.querySelectorAll("tr[data-trace-id]"), (row) => row.dataset.traceId));
  }

  async function poll() {
    timer = null;
    if (polling || document.hidden) return;
    polling = true;
    const url = results.dataset.rowsUrl + (results.dataset.rowsUrl.includes("?") ? "&" : "?") + "v=" + encodeURIComponent(version);
    try {
      const response = await fetch(url, { cache: "no-store", headers: { Accept: "text/html" } });
      if (response.status === 200) {
        const html = await response.text();
        const before = shownIds();
        results.innerHTML = html;
        for (const row of results.querySelectorAll("tr[data-trace-id]")) {
          if (!before.has(row.dataset.traceId)) row.classList.add("fresh");
        }
      } else if (response.status !== 204) {
        throw new Error("Spyglass answered " + response.status);
      }
      version = response.headers.get("X-Spyglass-Version") || version;
      failures = 0;
      setStatus("on", "Live");
    } catch (error) {
      failures += 1;
      setStatus("offline", "Not connected, retrying");
    } finally {
      polling = false;
    }
    schedule();
  }

  function schedule() {
    if (timer === null && !document.hidden) {
      // back off to at most 30 s while the server does not answer
      timer = setTimeout(poll, Math.min(interval * 2 ** failures, 30000));
    }
  }

  document.addEventListener("visibilitychange", () => {
    if (document.hidden) {
      clearTimeout(timer);
      timer = null;
      setStatus("off", "Paused while the tab is hidden");
    } else {
      poll();
    }
  });
  schedule();
})();
