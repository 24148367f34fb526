// The trace view: a virtualised span tree with a waterfall, span details, search and error navigation.
// Plain JavaScript, no dependencies: Spyglass works offline.
//
// The page embeds every row of the trace once (#trace-data, in depth-first order: a node's
// descendants are the rows after it up to its `end`), and only the rows scrolled into view exist in
// the DOM, so 10,000 spans cost what 50 do. Every value that came from a client (span names,
// messages, attributes) is put into the page with textContent or as an attribute value, never as HTML.
(function () {
  "use strict";
  const ROW_HEIGHT = 24; // px, the same as .row in trace.css
  const OVERSCAN = 12; // rows drawn above and below the visible ones
  const INDENT = 14; // px per level
  const MAX_INDENT_LEVELS = 40; // deeper rows stop moving right and show their depth
  const STRING_PREVIEW = 400; // characters of a long string shown before "show more"
  const CHILDREN_PAGE = 200; // object keys / array items shown before "show more"
  const FILTERABLE_CHARS = 2000; // longer values get no "filter" link
  const AUTO_OPEN_DEPTH = 8; // JSON objects and arrays this shallow open by themselves...
  const AUTO_OPEN_ENTRIES = 300; // ...until a tree shows this many entries; the rest open on click
  let autoOpenBudget = AUTO_OPEN_ENTRIES;

  const data = JSON.parse(document.getElementById("trace-data").textContent);
  const nodes = data.rows.map((values) => {
    const node = {};
    data.fields.forEach((field, k) => { node[field] = values[k]; });
    node.flagSet = new Set(node.flags);
    return node;
  });
  const count = nodes.length;
  const open = Uint8Array.from(nodes, (node) => node.open);
  const byRowId = new Map(nodes.map((node, i) => [node.row_id, i]));
  const errors = [];
  nodes.forEach((node, i) => { if (node.flagSet.has("error")) errors.push(i); });

  const rowsEl = document.getElementById("rows");
  const spacer = document.getElementById("rows-spacer");
  const windowEl = document.getElementById("rows-window");
  const detailEl = document.getElementById("detail");
  const searchInput = document.getElementById("trace-search");
  const searchCount = document.getElementById("search-count");
  const searchPrev = document.getElementById("search-prev");
  const searchNext = document.getElementById("search-next");
  const errorCount = document.getElementById("error-count");

  let visible = new Int32Array(0); // node index of each shown row
  const visiblePos = new Int32Array(count); // row of each node, -1 when inside a collapsed subtree
  let selected = -1;
  let matches = [];
  const matchSet = new Uint8Array(count);
  let currentMatch = -1;

  // -- DOM helpers --------------------------------------------------------------------------------

  const h = window.Spyglass.h; // web/static/dom.js

  function levelName(level) {
    if (level >= 21) return "fatal";
    if (level >= 17) return "error";
    if (level >= 13) return "warn";
    if (level >= 10) return "notice";
    if (level >= 9) return "info";
    if (level >= 5) return "debug";
    return "trace";
  }

  // -- the tree -----------------------------------------------------------------------------------

  function computeVisible() {
    const list = new Int32Array(count);
    let shown = 0;
    visiblePos.fill(-1);
    for (let i = 0; i < count; ) {
      visiblePos[i] = shown;
      list[shown++] = i;
      i = open[i] ? i + 1 : nodes[i].end;
    }
    visible = list.subarray(0, shown);
    spacer.style.height = shown * ROW_HEIGHT + "px";
  }

  let frame = 0;
  function scheduleRender() {
    if (!frame) frame = requestAnimationFrame(() => { frame = 0; render(); });
  }

  function render() {
    const top = rowsEl.scrollTop;
    const height = rowsEl.clientHeight || 600;
    const first = Math.max(0, Math.floor(top / ROW_HEIGHT) - OVERSCAN);
    const last = Math.min(visible.length, Math.ceil((top + height) / ROW_HEIGHT) + OVERSCAN);
    const fragment = document.createDocumentFragment();
    for (let k = first; k < last; k++) fragment.append(rowElement(visible[k], k));
    windowEl.replaceChildren(fragment);
  }

  const BADGES = {
    orphan: ["orphan", "its parent span never arrived: shown as a root"],
    cycle: ["cycle", "its parent link would make a loop: shown as a root"],
    dup: ["dup id", "another record of this trace has the same span id"],
    running: ["running", "a pending span: started, not ended (yet)"],
    negative: ["end < start", "the client says this span ended before it started"],
    skew: ["clock skew", "a timestamp far outside the trace: the bar is clamped"],
  };

  function rowElement(i, position) {
    const node = nodes[i];
    const hasChildren = node.end > i + 1;
    const classes = ["row", "kind-" + node.kind, "svc-" + (node.service % 8), ...node.flags];
    if (i === selected) classes.push("selected");
    if (matchSet[i]) classes.push("match");
    if (currentMatch >= 0 && matches[currentMatch] === i) classes.push("current");
    const row = h("div", {
      class: classes.join(" "), role: "treeitem", "data-i": i, "data-row-id": node.row_id,
      "data-span-id": node.span_id, "aria-level": node.depth + 1, "aria-selected": i === selected ? "true" : "false",
      "aria-expanded": hasChildren ? (open[i] ? "true" : "false") : null,
    });
    row.style.top = position * ROW_HEIGHT + "px";

    const name = h("div", { class: "name" });
    name.style.paddingLeft = Math.min(node.depth, MAX_INDENT_LEVELS) * INDENT + 4 + "px";
    if (hasChildren) {
      name.append(h("button", { type: "button", class: "toggle", tabindex: -1, "aria-label": open[i] ? "Collapse" : "Expand" }, open[i] ? "▾" : "▸"));
    } else {
      name.append(h("span", { class: "leaf" }));
    }
    if (node.depth > MAX_INDENT_LEVELS) name.append(h("span", { class: "deep", title: "depth " + node.depth }, "↳" + node.depth));
    name.append(h("span", { class: "dot", title: levelName(node.level) }));
    if (data.services.length > 1) name.append(h("span", { class: "service service-" + (node.service % 8) }, data.services[node.service]));
    name.append(h("span", { class: "label", title: node.label }, node.label || "(no name)"));
    if (node.name) name.append(h("span", { class: "span-name" }, node.name));
    for (const flag of node.flags) {
      if (BADGES[flag]) name.append(h("span", { class: "badge " + flag, title: BADGES[flag][1] }, BADGES[flag][0]));
    }
    if (node.exception) name.append(h("span", { class: "badge exception", title: "exception" }, node.exception));
    if (node.usage) name.append(h("span", { class: "badge usage", title: "tokens and cost of the model calls in this span and below it, each call counted once" }, node.usage));
    if (hasChildren && !open[i]) name.append(h("span", { class: "count", title: "hidden records below" }, String(node.end - i - 1)));

    const timeline = h("div", { class: "timeline", title: node.start + " · " + node.duration });
    const bar = h("div", { class: "bar" });
    bar.style.left = node.offset + "%";
    bar.style.width = node.width + "%";
    timeline.append(bar);
    for (const [offset, eventName] of node.ticks || []) {
      const tick = h("span", { class: "tick" + (eventName === "exception" ? " exception" : ""), title: eventName });
      tick.style.left = offset + "%";
      timeline.append(tick);
    }
    // the duration goes after the bar, or before it when the bar ends near the right edge, or
    // inside it when the bar spans (nearly) the whole trace
    const barEnd = node.offset + node.width;
    const place = barEnd <= 70 ? "after" : node.offset > 20 ? "before" : "inside";
    const label = h("span", { class: "dur " + place }, node.kind === "log" ? node.start : node.duration);
    label.style.left = (place === "before" ? node.offset : barEnd) + "%";
    timeline.append(label);
    row.append(name, timeline);
    return row;
  }

  /** Open every collapsed ancestor of node i; true when something changed. */
  function reveal(i) {
    let changed = false;
    for (let p = nodes[i].parent; p >= 0; p = nodes[p].parent) {
      if (!open[p]) { open[p] = 1; changed = true; }
    }
    return changed;
  }

  function scrollToNode(i) {
    const top = visiblePos[i] * ROW_HEIGHT;
    const height = rowsEl.clientHeight;
    if (top < rowsEl.scrollTop || top + ROW_HEIGHT > rowsEl.scrollTop + height) {
      rowsEl.scrollTop = Math.max(0, top - Math.floor(height / 3));
    }
  }

  function toggle(i, state) {
    if (nodes[i].end <= i + 1) return;
    open[i] = state === undefined ? 1 - open[i] : state;
    computeVisible();
    render();
  }

  function select(i, options) {
    const { details = true, scroll = true } = options || {};
    selected = i;
    if (reveal(i)) computeVisible();
    if (scroll) scrollToNode(i);
    render();
    const url = new URL(window.location.href);
    url.searchParams.set("span", nodes[i].row_id);
    window.history.replaceState(null, "", url);
    if (details) showDetails(i);
  }

  windowEl.addEventListener("click", (event) => {
    const row = event.target.closest(".row");
    if (!row) return;
    const i = Number(row.dataset.i);
    if (event.target.closest(".toggle")) toggle(i);
    else select(i, { scroll: false });
  });
  windowEl.addEventListener("dblclick", (event) => {
    const row = event.target.closest(".row");
    if (row && !event.target.closest(".toggle")) toggle(Number(row.dataset.i));
  });
  rowsEl.addEventListener("scroll", scheduleRender, { passive: true });
  window.addEventListener("resize", scheduleRender);

  let detailTimer = 0;
  rowsEl.addEventListener("keydown", (event) => {
    if (!count) return;
    const at = selected >= 0 && visiblePos[selected] >= 0 ? visiblePos[selected] : -1;
    let target = -1;
    if (event.key === "ArrowDown") target = visible[Math.min(at + 1, visible.length - 1)];
    else if (event.key === "ArrowUp") target = visible[Math.max(at - 1, 0)];
    else if (event.key === "Home") target = visible[0];
    else if (event.key === "End") target = visible[visible.length - 1];
    else if (event.key === "ArrowRight" && selected >= 0) {
      if (nodes[selected].end > selected + 1 && !open[selected]) { toggle(selected, 1); event.preventDefault(); return; }
      target = nodes[selected].end > selected + 1 ? selected + 1 : -1;
    } else if (event.key === "ArrowLeft" && selected >= 0) {
      if (open[selected] && nodes[selected].end > selected + 1) { toggle(selected, 0); event.preventDefault(); return; }
      target = nodes[selected].parent;
    } else if (event.key === "Enter" && selected >= 0) { toggle(selected); event.preventDefault(); return; }
    else return;
    event.preventDefault();
    if (target === undefined || target < 0) return;
    select(target, { details: false });
    clearTimeout(detailTimer);
    detailTimer = setTimeout(() => showDetails(target), 150);
  });

  document.getElementById("expand-all").addEventListener("click", () => {
    open.fill(1);
    computeVisible();
    render();
  });
  document.getElementById("collapse-all").addEventListener("click", () => {
    open.fill(0);
    computeVisible();
    rowsEl.scrollTop = 0;
    render();
  });

  // -- search -------------------------------------------------------------------------------------

  const haystacks = new Array(count);
  function haystack(i) {
    if (haystacks[i] === undefined) {
      const node = nodes[i];
      haystacks[i] = [node.label, node.name, node.span_id, data.services[node.service], node.exception].join("\n").toLowerCase();
    }
    return haystacks[i];
  }

  let searchGeneration = 0;
  let movedSinceSearch = false;
  let searchTimer = 0;

  function setMatches(list, keepCurrent) {
    const current = currentMatch >= 0 ? matches[currentMatch] : -1;
    matches = list;
    matchSet.fill(0);
    const opened = new Uint8Array(count);
    let changed = false;
    for (const i of list) {
      matchSet[i] = 1;
      for (let p = nodes[i].parent; p >= 0 && !opened[p]; p = nodes[p].parent) {
        opened[p] = 1;
        if (!open[p]) { open[p] = 1; changed = true; }
      }
    }
    if (changed) computeVisible();
    if (keepCurrent && current >= 0 && matchSet[current]) currentMatch = list.indexOf(current);
    else {
      const from = selected >= 0 ? selected : 0;
      const next = list.findIndex((i) => i >= from);
      currentMatch = list.length ? (next >= 0 ? next : 0) : -1;
      if (currentMatch >= 0) scrollToNode(list[currentMatch]);
    }
    showSearchCount();
    render();
  }

  function showSearchCount() {
    const text = searchInput.value.trim();
    searchCount.classList.toggle("none", Boolean(text) && !matches.length);
    searchCount.textContent = !text ? "" : matches.length ? `${currentMatch + 1} of ${matches.length}` : "no matches";
    searchPrev.disabled = searchNext.disabled = matches.length === 0;
  }

  async function runSearch() {
    clearTimeout(searchTimer);
    searchTimer = 0;
    const text = searchInput.value.trim().toLowerCase();
    const generation = ++searchGeneration;
    searchCount.removeAttribute("data-done");
    if (!text) {
      setMatches([]);
      searchCount.setAttribute("data-done", "");
      return;
    }
    const local = [];
    movedSinceSearch = false;
    for (let i = 0; i < count; i++) if (haystack(i).includes(text)) local.push(i);
    setMatches(local);
    // The server also looks in what the page does not hold: attributes, events, exception messages.
    try {
      const response = await fetch(data.urls.search + "?q=" + encodeURIComponent(text));
      const body = await response.json();
      if (generation !== searchGeneration || !response.ok) return;
      const merged = new Set(local);
      for (const id of body.row_ids) {
        const i = byRowId.get(id);
        if (i !== undefined) merged.add(i);
      }
      // keep the current match only if the user has already moved to it
      if (merged.size !== local.length) setMatches([...merged].sort((a, b) => a - b), movedSinceSearch);
    } catch (error) {
      if (generation === searchGeneration) searchCount.textContent += " (names only: " + error.message + ")";
    }
    if (generation === searchGeneration) searchCount.setAttribute("data-done", "");
  }

  function moveMatch(step) {
    if (!matches.length) return;
    movedSinceSearch = true;
    currentMatch = (currentMatch + step + matches.length) % matches.length;
    scrollToNode(matches[currentMatch]);
    showSearchCount();
    render();
  }

  searchInput.addEventListener("input", () => {
    searchCount.removeAttribute("data-done"); // set again once this search has its answer
    clearTimeout(searchTimer);
    searchTimer = setTimeout(runSearch, 150);
  });
  searchInput.addEventListener("keydown", async (event) => {
    if (event.key === "Enter") {
      event.preventDefault();
      if (searchTimer) await runSearch(); // typed and hit Enter at once: show the first match
      else moveMatch(event.shiftKey ? -1 : 1);
    } else if (event.key === "Escape") {
      searchInput.value = "";
      runSearch();
    }
  });
  searchPrev.addEventListener("click", () => moveMatch(-1));
  searchNext.addEventListener("click", () => moveMatch(1));

  // -- errors -------------------------------------------------------------------------------------

  function moveError(step) {
    if (!errors.length) return;
    let target;
    if (step > 0) target = errors.find((i) => i > selected) ?? errors[0];
    else target = [...errors].reverse().find((i) => i < (selected < 0 ? count : selected)) ?? errors[errors.length - 1];
    select(target);
    errorCount.textContent = `error ${errors.indexOf(target) + 1} of ${errors.length}`;
  }
  document.getElementById("error-next").addEventListener("click", () => moveError(1));
  document.getElementById("error-prev").addEventListener("click", () => moveError(-1));

  // -- copy buttons -------------------------------------------------------------------------------

  async function copyText(text) {
    try {
      await navigator.clipboard.writeText(text);
      return true;
    } catch (_) {
      // no clipboard API (plain http on another host) or no permission: the old way
      const area = h("textarea", { readonly: "" });
      area.value = text;
      area.style.position = "fixed";
      area.style.opacity = "0";
      document.body.append(area);
      area.select();
      let copied = false;
      try { copied = document.execCommand("copy"); } catch (_) { copied = false; }
      area.remove();
      return copied;
    }
  }

  function copyButton(text, what) {
    return h("button", { type: "button", class: "copy", "data-copy": text, title: "Copy the " + what }, "copy");
  }

  document.addEventListener("click", async (event) => {
    const button = event.target.closest("button.copy");
    if (!button) return;
    const copied = await copyText(button.dataset.copy);
    button.textContent = copied ? "copied" : "copy failed";
    button.classList.toggle("copied", copied);
    setTimeout(() => { button.textContent = "copy"; button.classList.remove("copied"); }, 1500);
  });

  // -- "filter by this value": SQL for the live view ----------------------------------------------

  function sqlString(text) {
    return "'" + String(text).replace(/'/g, "''") + "'";
  }

  function jsonKey(key) {
    // A key starting with $ would be read as a JSONPath: quote it inside one.
    if (key.startsWith("$")) return sqlString('$."' + key.replace(/\\/g, "\\\\").replace(/"/g, '\\"') + '"');
    return sqlString(key);
  }

  /** A WHERE condition on `column` (a records column) at the JSON path `steps` equal to `value`. */
  function filterSql(column, steps, value) {
    let expr = column;
    steps.forEach((step, k) => {
      const last = k === steps.length - 1;
      expr += (last || step.text ? "->>" : "->") + (typeof step.key === "number" ? String(step.key) : jsonKey(step.key));
      if (step.text && !last) expr = "(" + expr + ")"; // a string holding JSON: ->> then reach inside
    });
    if (!steps.length) {
      return typeof value === "string" ? `${expr} = ${sqlString(value)}` : `${expr} = ${value}`;
    }
    expr = "(" + expr + ")";
    if (typeof value === "number") return `TRY_CAST(${expr} AS ${Number.isInteger(value) ? "BIGINT" : "DOUBLE"}) = ${value}`;
    return `${expr} = ${sqlString(value)}`; // ->> gives text: booleans compare as 'true' / 'false'
  }

  function filterLink(context, value) {
    if (!context || !context.column || String(value).length > FILTERABLE_CHARS) return null;
    const sql = filterSql(context.column, context.steps || [], value);
    return h("a", { class: "filter", href: data.urls.live + "?where=" + encodeURIComponent(sql), title: "Show records where " + sql }, "filter");
  }

  // -- the JSON tree ------------------------------------------------------------------------------

  function parseJsonText(text) {
    const trimmed = text.trim();
    const first = trimmed[0];
    const last = trimmed[trimmed.length - 1];
    if (!((first === "{" && last === "}") || (first === "[" && last === "]"))) return undefined;
    try {
      const value = JSON.parse(trimmed);
      return value !== null && typeof value === "object" ? value : undefined;
    } catch (_) {
      return undefined;
    }
  }

  function withStep(context, key, extra) {
    return context ? { column: context.column, steps: [...(context.steps || []), { key, ...extra }] } : null;
  }

  function fillEntries(container, value, context, depth) {
    const isArray = Array.isArray(value);
    const keys = isArray ? value.map((_, k) => k) : Object.keys(value);
    let shown = 0;
    function more() {
      const end = Math.min(keys.length, shown + CHILDREN_PAGE);
      const fragment = document.createDocumentFragment();
      for (; shown < end; shown++) {
        const key = keys[shown];
        const row = h("div", { class: "kv" }, h("span", { class: "key" }, isArray ? String(key) : key));
        row.append(h("span", { class: "value" }, valueNode(value[key], withStep(context, key), depth + 1)));
        fragment.append(row);
      }
      if (shown < keys.length) {
        const button = h("button", { type: "button", class: "more" }, `show ${Math.min(CHILDREN_PAGE, keys.length - shown)} more of ${keys.length - shown}`);
        button.addEventListener("click", () => { button.remove(); more(); });
        fragment.append(button);
      }
      container.append(fragment);
    }
    more();
  }

  function containerNode(value, context, depth) {
    const isArray = Array.isArray(value);
    const size = isArray ? value.length : Object.keys(value).length;
    if (!size) return h("span", { class: "null" }, isArray ? "[]" : "{}");
    const summary = isArray ? `[${size} item${size === 1 ? "" : "s"}]` : `{${size} key${size === 1 ? "" : "s"}}`;
    const body = h("div", { class: "nest" });
    const details = h("details", {}, h("summary", {}, summary), body);
    let filled = false;
    const fill = () => { if (!filled) { filled = true; fillEntries(body, value, context, depth); } };
    details.addEventListener("toggle", () => {
      if (details.open && !filled) { autoOpenBudget = AUTO_OPEN_ENTRIES; fill(); }
    });
    // small values open by themselves, as long as the tree as a whole stays small
    if (depth < AUTO_OPEN_DEPTH && size <= 50 && autoOpenBudget >= size) {
      autoOpenBudget -= size;
      fill();
      details.open = true;
    }
    return details;
  }

  function stringNode(text, context) {
    const span = h("span", { class: "s" });
    const node = h("span", {}, span);
    if (text.length <= STRING_PREVIEW) {
      span.textContent = text;
    } else {
      let expanded = false;
      const button = h("button", { type: "button", class: "more" });
      const update = () => {
        span.textContent = expanded ? text : text.slice(0, STRING_PREVIEW) + "…";
        button.textContent = expanded ? "show less" : `show more (${text.length.toLocaleString()} characters)`;
      };
      button.addEventListener("click", () => { expanded = !expanded; update(); });
      update();
      node.append(button);
    }
    const link = filterLink(context, text);
    if (link) node.append(link);
    return node;
  }

  function jsonTextNode(text, parsed, context, depth) {
    // JSON sent as a string (logfire without json_schema, plain OTel): shown parsed, raw on demand.
    const node = h("span", { class: "json-text" }, h("span", { class: "jsontext", title: "this string holds JSON; shown parsed" }, "JSON"));
    const tree = containerNode(parsed, context ? { column: context.column, steps: context.steps.map((s, k) => (k === context.steps.length - 1 ? { ...s, text: true } : s)) } : null, depth);
    const raw = h("pre", { hidden: "" }, text);
    const button = h("button", { type: "button", class: "raw" }, "raw");
    button.addEventListener("click", () => {
      raw.hidden = !raw.hidden;
      tree.hidden = !raw.hidden;
      button.textContent = raw.hidden ? "raw" : "parsed";
    });
    node.append(button, tree, raw);
    return node;
  }

  function valueNode(value, context, depth) {
    if (value === null || value === undefined) return h("span", { class: "null" }, "null");
    if (typeof value === "object") return containerNode(value, context, depth);
    if (typeof value === "string") {
      const parsed = parseJsonText(value);
      return parsed === undefined ? stringNode(value, context) : jsonTextNode(value, parsed, context, depth);
    }
    const node = h("span", {}, h("span", { class: typeof value === "number" ? "n" : "b" }, String(value)));
    const link = filterLink(context, value);
    if (link) node.append(link);
    return node;
  }

  /** A whole JSON object as key/value rows; `column` enables "filter" links (null: none). */
  function jsonTree(value, column) {
    autoOpenBudget = AUTO_OPEN_ENTRIES;
    const tree = h("div", { class: "json" });
    if (value !== null && typeof value === "object" && !Array.isArray(value)) fillEntries(tree, value, column ? { column, steps: [] } : null, 0);
    else tree.append(valueNode(value, column ? { column, steps: [] } : null, 0));
    return tree;
  }

  // -- span details -------------------------------------------------------------------------------

  const details = new Map();
  let detailGeneration = 0;

  async function showDetails(i) {
    const node = nodes[i];
    const generation = ++detailGeneration;
    detailEl.hidden = false;
    if (!details.has(node.row_id)) {
      detailEl.replaceChildren(h("p", { class: "muted" }, "Loading…"));
      try {
        const response = await fetch(data.urls.span + encodeURIComponent(node.row_id));
        const body = await response.json();
        if (!response.ok) throw new Error(body.error || response.statusText);
        details.set(node.row_id, body);
      } catch (error) {
        if (generation === detailGeneration) detailEl.replaceChildren(h("p", { class: "error-box" }, "Could not load this record: " + error.message));
        return;
      }
    }
    if (generation !== detailGeneration) return;
    detailEl.replaceChildren(renderDetail(i, details.get(node.row_id)));
    detailEl.scrollTop = 0;
  }

  /** "2026-01-02T03:04:05.123456+00:00" -> "2026-01-02 03:04:05.123456 UTC" (times come in UTC). */
  function readableTime(iso) {
    return iso ? iso.replace("T", " ").replace(/\+00:00$/, " UTC") : iso;
  }

  function fact(list, term, ...values) {
    list.append(h("dt", {}, term), h("dd", {}, ...values));
  }

  function section(title, ...content) {
    return [h("h3", {}, title), ...content];
  }

  const COLUMN_FACTS = [
    "service_version", "service_namespace", "service_instance_id", "deployment_environment", "process_pid",
    "telemetry_sdk_name", "telemetry_sdk_language", "telemetry_sdk_version",
    "http_method", "http_route", "http_response_status_code", "url_full", "url_path", "url_query",
    "gen_ai_provider", "gen_ai_model", "input_tokens", "output_tokens", "cache_read_tokens", "cache_write_tokens",
    "cost_usd", "cost_source",
  ];

  function renderDetail(i, record) {
    const node = nodes[i];
    const root = h("div", { class: "detail-inner", "data-row-id": node.row_id });
    const close = h("button", { type: "button", class: "link", title: "Close", "aria-label": "Close the details" }, "✕");
    close.addEventListener("click", () => { detailEl.hidden = true; });
    const title = record.message || record.span_name || "(no name)";
    root.append(h("div", { class: "detail-head" }, h("h2", { id: "detail-title" }, title), close));

    const badges = h("div", { class: "badges" });
    badges.append(h("span", { class: "badge" }, record.kind === "pending_span" ? "pending span" : record.kind));
    badges.append(h("span", { class: "badge" }, `${levelName(record.level)} (${record.level})`));
    if (record.otel_status_code && record.otel_status_code !== "UNSET") {
      badges.append(h("span", { class: "badge status-" + record.otel_status_code.toLowerCase() }, record.otel_status_code));
    }
    for (const flag of node.flags) if (BADGES[flag]) badges.append(h("span", { class: "badge " + flag, title: BADGES[flag][1] }, BADGES[flag][0]));
    if (record.otel_span_kind) badges.append(h("span", { class: "badge", title: "span kind" }, record.otel_span_kind));
    root.append(badges);

    const facts = h("dl", { class: "facts", id: "detail-facts" });
    if (record.message && record.span_name && record.message !== record.span_name) {
      fact(facts, "Span name", h("span", { id: "detail-span-name" }, record.span_name), filterLink({ column: "span_name", steps: [] }, record.span_name));
    }
    fact(facts, "Trace id", h("code", {}, record.trace_id), copyButton(record.trace_id, "trace id"));
    fact(facts, "Span id", h("code", { id: "detail-span-id" }, record.span_id), copyButton(record.span_id, "span id"),
      node.flagSet.has("dup") ? h("span", { class: "muted-note" }, "shared with another record of this trace") : null);
    if (record.parent_span_id) {
      const parentCell = [h("code", {}, record.parent_span_id)];
      if (node.parent >= 0 && nodes[node.parent].span_id === record.parent_span_id) {
        const jump = h("a", { class: "jump", href: "#", id: "detail-parent" }, "go to parent");
        jump.addEventListener("click", (event) => { event.preventDefault(); select(node.parent); });
        parentCell.push(jump);
      } else if (node.flagSet.has("orphan")) {
        parentCell.push(h("span", { class: "muted-note" }, "never arrived"));
      } else if (node.flagSet.has("cycle")) {
        parentCell.push(h("span", { class: "muted-note" }, "ignored: it would make a loop"));
      }
      fact(facts, "Parent span id", ...parentCell);
    } else {
      fact(facts, "Parent span id", h("span", { class: "muted-note" }, "none (a root)"));
    }
    fact(facts, "Service", record.service_name, filterLink({ column: "service_name", steps: [] }, record.service_name));
    if (record.otel_scope_name) fact(facts, "Scope", record.otel_scope_name + (record.otel_scope_version ? " " + record.otel_scope_version : ""));
    fact(facts, "Start", readableTime(record.start_timestamp), h("span", { class: "muted-note" }, node.start + " into the trace"));
    fact(facts, "End", readableTime(record.end_timestamp) || h("span", { class: "muted-note" }, "not ended yet"));
    fact(facts, "Duration", record.duration_label);
    fact(facts, "Status", record.otel_status_code + (record.otel_status_message ? ": " + record.otel_status_message : ""));
    if (record.tags && record.tags.length) fact(facts, "Tags", record.tags.join(", "));
    root.append(facts);
    // model calls, agent runs and tool calls: the conversation as a chat (llm_panel.js)
    if (record.conversation && window.SpyglassLLM) root.append(window.SpyglassLLM.panel(record.conversation));

    if (record.is_exception || record.exception_type) {
      const box = h("div", { class: "exception-box", id: "detail-exception" },
        h("div", { class: "exc-title" }, [record.exception_type, record.exception_message].filter(Boolean).join(": ")));
      if (record.exception_stacktrace) box.append(h("pre", { class: "stacktrace" }, record.exception_stacktrace));
      root.append(...section("Exception", box));
    }
    if (record.log_body !== null && record.log_body !== undefined && record.log_body !== record.message) {
      root.append(...section("Log body", jsonTree(record.log_body, null)));
    }
    const attributes = record.attributes || {};
    const attributeCount = Object.keys(attributes).length;
    root.append(...section(`Attributes (${attributeCount})`, attributeCount ? h("div", { id: "detail-attributes" }, jsonTree(attributes, "attributes")) : h("p", { class: "muted-note" }, "none")));

    const events = record.otel_events || [];
    if (events.length) {
      const list = h("div", { id: "detail-events" });
      for (const event of events) {
        const item = h("div", { class: "event" + (event.name === "exception" ? " exception" : "") },
          h("span", { class: "event-name" }, event.name), " ", h("span", { class: "muted-note" }, event.offset_label || event.timestamp));
        if (event.attributes && Object.keys(event.attributes).length) item.append(jsonTree(event.attributes, null));
        list.append(item);
      }
      root.append(...section(`Events (${events.length})`, list));
    }

    const links = record.otel_links || [];
    if (links.length) {
      const list = h("div", { id: "detail-links" });
      for (const link of links) {
        const target = link.trace_id + " / " + link.span_id;
        const item = h("div", { class: "link" });
        if (link.stored) item.append(h("a", { href: data.urls.trace + encodeURIComponent(link.trace_id) + "?span=" + encodeURIComponent(link.span_id), class: "span-link" }, target));
        else item.append(h("code", {}, target), " ", h("span", { class: "muted-note" }, "not stored here"));
        if (link.attributes && Object.keys(link.attributes).length) item.append(jsonTree(link.attributes, null));
        list.append(item);
      }
      root.append(...section(`Links (${links.length})`, list));
    }

    const columns = h("dl", { class: "facts" });
    let columnCount = 0;
    for (const column of COLUMN_FACTS) {
      const value = record[column];
      if (value === null || value === undefined) continue;
      columnCount++;
      fact(columns, column, String(value), filterLink({ column, steps: [] }, value));
    }
    if (columnCount) root.append(...section("Columns", columns));

    const resource = h("details", {}, h("summary", {}, "Resource attributes"), jsonTree(record.otel_resource_attributes || {}, "otel_resource_attributes"));
    root.append(h("h3", {}, "Resource"), resource);
    const scope = record.otel_scope_attributes || {};
    if (Object.keys(scope).length) root.append(...section("Scope attributes", jsonTree(scope, "otel_scope_attributes")));
    return root;
  }

  // -- start --------------------------------------------------------------------------------------

  computeVisible();
  render();
  if (data.selected) {
    let target = byRowId.get(data.selected);
    if (target === undefined) target = nodes.findIndex((node) => node.span_id === data.selected);
    if (target >= 0) select(target);
    else {
      detailEl.hidden = false;
      detailEl.replaceChildren(h("p", { class: "error-box" }, `No span ${data.selected} in this trace.`));
    }
  }

  // While spans are still running, ask every 3 s whether the trace changed (polling, like the live
  // view: a small GET, nothing when the tab is hidden). The tree is not redrawn under the reader's
  // hands: a notice offers to reload, keeping the selected span.
  (function watchRunningTrace() {
    const notice = document.getElementById("trace-changed");
    let records = count;
    let running = nodes.filter((node) => node.flagSet.has("running")).length;
    if (!notice || running === 0) return;
    const timer = setInterval(async () => {
      if (document.hidden) return;
      let version;
      try {
        const response = await fetch(data.urls.version);
        if (!response.ok) return;
        version = await response.json();
      } catch (err) {
        return; // the server may be restarting: try again at the next tick
      }
      if (version.records === records && version.running === running) return;
      const finished = version.running === 0;
      notice.replaceChildren();
      const text = finished ? "This trace has finished." : `This trace changed: ${version.records} records, ${version.running} still running.`;
      const link = h("a", { href: "#", id: "trace-reload" }, "Reload");
      link.addEventListener("click", (event) => {
        event.preventDefault();
        const url = new URL(window.location.href);
        if (selected >= 0) url.searchParams.set("span", nodes[selected].row_id);
        window.location.assign(url.toString());
      });
      notice.append(text + " ", link);
      notice.hidden = false;
      records = version.records;
      running = version.running;
      if (finished) clearInterval(timer);
    }, 3000);
  })();
})();
