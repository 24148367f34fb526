// The explore page: run SQL through /api/query, show the rows, chart two columns.
// Plain JavaScript, no dependencies: Spyglass works offline.
(function () {
  "use strict";
  const editor = document.getElementById("sql");
  const statusLine = document.getElementById("status");
  const errorBox = document.getElementById("error");
  const table = document.getElementById("results");
  const chartControls = document.getElementById("chart-controls");
  const chartKind = document.getElementById("chart-kind");
  const chartX = document.getElementById("chart-x");
  const chartY = document.getElementById("chart-y");
  const chart = document.getElementById("chart");
  const RECENT_KEY = "spyglass.recentQueries";
  let last = null; // the last successful result

  const el = window.Spyglass.h; // web/static/dom.js

  function showError(message) {
    errorBox.textContent = message;
    errorBox.hidden = false;
  }

  async function run() {
    const sql = editor.value;
    errorBox.hidden = true;
    statusLine.textContent = "Running…";
    let response;
    try {
      response = await fetch("/api/query", {
        method: "POST",
        headers: { "Content-Type": "application/json", Accept: "application/json" },
        body: JSON.stringify({ sql }),
      });
    } catch (err) {
      statusLine.textContent = "";
      showError("Spyglass did not answer: " + err);
      return;
    }
    const body = await response.json();
    if (!response.ok) {
      statusLine.textContent = "";
      showError(body.error || "query failed");
      return;
    }
    remember(sql);
    last = body;
    statusLine.textContent = `${body.row_count} row${body.row_count === 1 ? "" : "s"} · ${body.elapsed_ms.toFixed(1)} ms`;
    if (body.truncated) {
      const flag = el("span", { class: "badge truncated", id: "truncated" }, `truncated at ${body.row_count} rows`);
      statusLine.append(" · ", flag);
    }
    renderTable(body);
    renderChartControls(body);
    renderChart();
  }

  function cell(column, value) {
    const td = el("td");
    if (value === null || value === undefined) {
      td.className = "null";
      td.textContent = "NULL";
    } else if (column === "trace_id" && typeof value === "string") {
      td.append(el("a", { href: `/trace/${encodeURIComponent(value)}` }, value));
    } else if (column === "span_id" && typeof value === "string" && td) {
      td.textContent = value;
      td.dataset.spanId = value;
    } else if (typeof value === "object") {
      td.append(el("code", {}, JSON.stringify(value)));
    } else {
      td.textContent = String(value);
    }
    return td;
  }

  function renderTable(body) {
    table.replaceChildren();
    const head = el("tr");
    body.columns.forEach((c, i) => head.append(el("th", { title: body.types[i] }, c)));
    table.append(el("thead"));
    table.tHead.append(head);
    const tbody = el("tbody");
    const traceCol = body.columns.indexOf("trace_id");
    for (const row of body.rows) {
      const tr = el("tr");
      row.forEach((value, i) => {
        const td = cell(body.columns[i], value);
        // span ids link into their trace when the row also says which trace
        if (body.columns[i] === "span_id" && traceCol >= 0 && row[traceCol] && value) {
          td.replaceChildren(el("a", { href: `/trace/${encodeURIComponent(row[traceCol])}?span=${encodeURIComponent(value)}#span-${value}` }, value));
        }
        tr.append(td);
      });
      tbody.append(tr);
    }
    table.append(tbody);
  }

  function renderChartControls(body) {
    const previous = [chartX.value, chartY.value];
    chartX.replaceChildren();
    chartY.replaceChildren();
    body.columns.forEach((c) => {
      chartX.append(el("option", { value: c }, c));
      chartY.append(el("option", { value: c }, c));
    });
    const numeric = body.columns.filter((c, i) => body.rows.some((r) => typeof r[i] === "number"));
    chartX.value = body.columns.includes(previous[0]) ? previous[0] : body.columns[0];
    chartY.value = body.columns.includes(previous[1]) ? previous[1] : numeric[numeric.length - 1] || body.columns[0];
    chartControls.hidden = body.columns.length < 2;
  }

  function renderChart() {
    chart.replaceChildren();
    if (!last || !chartKind.value) return;
    const xi = last.columns.indexOf(chartX.value);
    const yi = last.columns.indexOf(chartY.value);
    const points = last.rows
      .map((r) => [r[xi], Number(r[yi])])
      .filter(([x, y]) => x !== null && Number.isFinite(y));
    if (!points.length) {
      chart.textContent = `No numeric values in ${chartY.value} to chart.`;
      return;
    }
    const width = 720, height = 240, pad = 40;
    const ys = points.map((p) => p[1]);
    const yMax = Math.max(0, ...ys), yMin = Math.min(0, ...ys);
    const scaleY = (y) => height - pad - ((y - yMin) / (yMax - yMin || 1)) * (height - 2 * pad);
    const step = (width - 2 * pad) / Math.max(points.length, 1);
    const svgNS = "http://www.w3.org/2000/svg";
    const svg = document.createElementNS(svgNS, "svg");
    svg.setAttribute("viewBox", `0 0 ${width} ${height}`);
    svg.setAttribute("class", "chart");
    svg.setAttribute("role", "img");
    svg.setAttribute("aria-label", `${chartKind.value} chart of ${chartY.value} by ${chartX.value}`);
    const add = (tag, attrs, text) => {
      const node = document.createElementNS(svgNS, tag);
      for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, v);
      if (text !== undefined) node.textContent = text;
      svg.append(node);
      return node;
    };
    add("line", { x1: pad, y1: scaleY(0), x2: width - pad, y2: scaleY(0), class: "axis" });
    add("text", { x: 4, y: scaleY(yMax) + 4, class: "tick" }, String(+yMax.toPrecision(4)));
    add("text", { x: 4, y: scaleY(yMin) + 4, class: "tick" }, String(+yMin.toPrecision(4)));
    if (chartKind.value === "bar") {
      points.forEach(([x, y], i) => {
        const top = Math.min(scaleY(y), scaleY(0));
        add("rect", { x: pad + i * step + step * 0.1, y: top, width: step * 0.8, height: Math.abs(scaleY(y) - scaleY(0)), class: "bar" })
          .append(Object.assign(document.createElementNS(svgNS, "title"), { textContent: `${x}: ${y}` }));
      });
    } else {
      const path = points.map(([, y], i) => `${i ? "L" : "M"}${pad + i * step + step / 2},${scaleY(y)}`).join(" ");
      add("path", { d: path, class: "line" });
    }
    add("text", { x: pad, y: height - 8, class: "tick" }, String(points[0][0]));
    add("text", { x: width - pad, y: height - 8, class: "tick", "text-anchor": "end" }, String(points[points.length - 1][0]));
    chart.append(svg);
  }

  async function download(accept, extension) {
    errorBox.hidden = true;
    const response = await fetch("/api/query", {
      method: "POST",
      headers: { "Content-Type": "application/json", Accept: accept },
      body: JSON.stringify({ sql: editor.value }),
    });
    if (!response.ok) {
      showError((await response.json()).error);
      return;
    }
    const link = el("a", { href: URL.createObjectURL(await response.blob()), download: `spyglass-query.${extension}` });
    document.body.append(link);
    link.click();
    link.remove();
  }

  function recentQueries() {
    try {
      return JSON.parse(localStorage.getItem(RECENT_KEY) || "[]");
    } catch (err) {
      return [];
    }
  }

  function remember(sql) {
    const recent = [sql, ...recentQueries().filter((q) => q !== sql)].slice(0, 20);
    localStorage.setItem(RECENT_KEY, JSON.stringify(recent));
    renderList(document.getElementById("recent"), recent.map((q) => ({ name: q.replace(/\s+/g, " ").slice(0, 60), sql: q })));
  }

  function renderList(list, items, onDelete) {
    list.replaceChildren();
    if (!items.length) list.append(el("li", { class: "muted" }, "none yet"));
    for (const item of items) {
      const li = el("li");
      const link = el("a", { href: "#", title: item.sql }, item.name);
      link.addEventListener("click", (event) => {
        event.preventDefault();
        editor.value = item.sql;
        run();
      });
      li.append(link);
      if (onDelete) {
        const remove = el("button", { class: "link", title: "delete" }, "×");
        remove.addEventListener("click", () => onDelete(item));
        li.append(" ", remove);
      }
      list.append(li);
    }
  }

  async function loadSaved() {
    const saved = await (await fetch("/api/saved-queries")).json();
    renderList(document.getElementById("saved"), saved, async (item) => {
      await fetch(`/api/saved-queries/${encodeURIComponent(item.name)}`, { method: "DELETE" });
      loadSaved();
    });
  }

  async function save() {
    const name = window.prompt("Save this query as:");
    if (!name) return;
    const response = await fetch("/api/saved-queries", {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ name, sql: editor.value }),
    });
    if (!response.ok) showError((await response.json()).error);
    loadSaved();
  }

  editor.addEventListener("keydown", (event) => {
    if (event.key === "Enter" && (event.ctrlKey || event.metaKey)) {
      event.preventDefault();
      run();
    }
  });
  document.getElementById("run").addEventListener("click", run);
  document.getElementById("save").addEventListener("click", save);
  document.getElementById("download-csv").addEventListener("click", () => download("text/csv", "csv"));
  document.getElementById("download-parquet").addEventListener("click", () => download("application/vnd.apache.parquet", "parquet"));
  [chartKind, chartX, chartY].forEach((s) => s.addEventListener("change", renderChart));
  document.querySelectorAll(".examples a[data-sql]").forEach((link) =>
    link.addEventListener("click", (event) => {
      event.preventDefault();
      editor.value = link.dataset.sql;
      run();
    })
  );
  renderList(document.getElementById("recent"), recentQueries().map((q) => ({ name: q.replace(/\s+/g, " ").slice(0, 60), sql: q })));
  loadSaved();
})();
