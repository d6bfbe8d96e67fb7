// Line charts of sampled run data, drawn with uPlot (static/vendor/uPlot-1.6.32.*). No inline script:
// every chart is described by data attributes, and this file finds and draws them.
//
// Contract (the run page uses it; the project page reuses it to overlay several runs):
//
//   <figure class="run-chart" data-chart-src="/url/returning/json" aria-labelledby="…">
//     <h3 id="…">train/loss</h3>
//     <div class="run-chart-plot"></div>                                 (created when missing)
//     <details class="chart-data"><summary>… as a table</summary></details>  (created when missing)
//   </figure>
//
// The URL answers JSON:
//   {"x": [x0, x1, …],                      numbers, ascending; unix seconds when "x_kind" is "time"
//    "x_kind": "step" | "time" | "relative", how to label the x axis (relative: seconds since the start)
//    "x_label": "Step",
//    "series": [{"label": "train/loss", "values": [v0, v1, …]}, …],  one line each; null = no value at x
//    "live": true}                          while true (and data-chart-live="ms" is set), it is fetched
//                                           again every that many ms, only while the page is visible.
// Every series has one value per x. To overlay runs whose x differ, the server merges the x and puts
// null where a run has no value.
//
// Controls: a <form data-chart-controls> holding <select name="x"> and <input name="smoothing"
// type="range" min="0" max="0.99" step="0.01"> drives every chart in the nearest [data-chart-group]
// (or the document): "x" is added to each chart's URL (?x=…), smoothing is an exponential moving average
// drawn client-side (the table shows the raw values).
//
// Each chart sets data-chart-state="loading" | "drawn" | "empty" | "error". When every chart on the page
// has drawn once, the Performance API gets the measure "charts:drawn" (from "charts:start": fetching and
// drawing), and window.launchuiCharts.drawn resolves with {charts, duration, drawMs} (drawMs: the time
// inside uPlot alone). The benchmark (bench/run_page.py) and the browser tests read it.
(function () {
  "use strict";

  const HEIGHT = 220;
  const COLOURS = ["#0b63ce", "#d9480f", "#2b8a3e", "#862e9c", "#c2255c", "#1098ad", "#e67700", "#5c940d"];
  let resolveDrawn;
  const drawn = new Promise(function (resolve) { resolveDrawn = resolve; });
  // drawMs: time spent inside uPlot (building and updating charts), apart from fetching their data.
  window.launchuiCharts = { drawn: drawn, refresh: refreshAll, drawMs: 0 };

  function groupOf(figure) {
    return figure.closest("[data-chart-group]") || document;
  }

  function controlsOf(figure) {
    return groupOf(figure).querySelector("form[data-chart-controls]");
  }

  function settings(figure) {
    const form = controlsOf(figure);
    const x = form && form.elements.namedItem("x");
    const smoothing = form && form.elements.namedItem("smoothing");
    return {
      x: x ? x.value : "",
      smoothing: smoothing ? Math.min(0.99, Math.max(0, parseFloat(smoothing.value) || 0)) : 0,
    };
  }

  function urlOf(figure) {
    const url = new URL(figure.dataset.chartSrc, window.location.href);
    const x = settings(figure).x;
    if (x) url.searchParams.set("x", x);
    return url.toString();
  }

  // Exponential moving average with debiasing (as W&B's default smoothing); nulls stay gaps.
  function smooth(values, weight) {
    if (!weight) return values;
    let last = 0;
    let count = 0;
    return values.map(function (v) {
      if (v === null || !isFinite(v)) return v;
      last = last * weight + (1 - weight) * v;
      count += 1;
      return last / (1 - Math.pow(weight, count));
    });
  }

  function formatX(kind, value) {
    if (value === null || value === undefined) return "";
    if (kind === "time") return new Date(value * 1000).toLocaleString();
    if (kind === "relative") return formatSeconds(value);
    return String(value);
  }

  function formatSeconds(seconds) {
    const s = Math.round(seconds);
    if (Math.abs(s) < 60) return s + "s";
    if (Math.abs(s) < 3600) return Math.floor(s / 60) + "m " + (s % 60) + "s";
    return Math.floor(s / 3600) + "h " + Math.floor((s % 3600) / 60) + "m";
  }

  function formatY(value) {
    if (value === null || value === undefined || !isFinite(value)) return "—";
    const abs = Math.abs(value);
    if (abs !== 0 && (abs >= 1e6 || abs < 1e-3)) return value.toExponential(3);
    return String(Math.round(value * 1e6) / 1e6);
  }

  function options(figure, data, width) {
    const kind = data.x_kind || "step";
    const series = [{
      label: data.x_label || "x",
      value: function (u, v) { return formatX(kind, v); },
    }];
    data.series.forEach(function (s, i) {
      series.push({
        label: s.label,
        stroke: COLOURS[i % COLOURS.length],
        width: 1.5,
        spanGaps: true,
        points: { show: data.x.length < 60 },
        value: function (u, v) { return formatY(v); },
      });
    });
    const xAxis = { stroke: "#5d6675", grid: { stroke: "#eef0f3" }, ticks: { stroke: "#dde1e7" } };
    if (kind === "relative") xAxis.values = function (u, ticks) { return ticks.map(formatSeconds); };
    // Steps are whole numbers: ticks at 1, 2, 5 x 10^n only, never 0.5.
    if (kind === "step") xAxis.incrs = [1, 2, 5, 10, 20, 50, 100, 200, 500, 1e3, 2e3, 5e3, 1e4, 2e4, 5e4, 1e5, 2e5, 5e5, 1e6, 2e6, 5e6, 1e7];
    return {
      width: width,
      height: HEIGHT,
      scales: { x: { time: kind === "time" } },
      series: series,
      axes: [xAxis, {
        stroke: "#5d6675",
        grid: { stroke: "#eef0f3" },
        ticks: { stroke: "#dde1e7" },
        size: 56,
        values: function (u, ticks) { return ticks.map(formatY); },
      }],
      cursor: { drag: { x: true, y: false } },  // drag to zoom, double-click to reset (uPlot's default)
      legend: { live: true },
    };
  }

  function plotData(figure, data) {
    const weight = settings(figure).smoothing;
    return [data.x].concat(data.series.map(function (s) { return smooth(s.values, weight); }));
  }

  // The table alternative, built when first opened (and rebuilt with new data while open).
  function fillTable(figure) {
    const details = figure.querySelector("details.chart-data");
    const data = figure._chartData;
    if (!details || !data || !details.open) return;
    let wrap = details.querySelector(".table-wrap");
    if (!wrap) {
      wrap = document.createElement("div");
      wrap.className = "table-wrap chart-table";
      details.appendChild(wrap);
    }
    const table = document.createElement("table");
    table.className = "table compact";
    const caption = document.createElement("caption");
    caption.className = "sr-only";
    caption.textContent = (figure.querySelector("h3, h2") || {}).textContent || "Chart data";
    table.appendChild(caption);
    const head = table.createTHead().insertRow();
    [data.x_label || "x"].concat(data.series.map(function (s) { return s.label; })).forEach(function (label) {
      const th = document.createElement("th");
      th.scope = "col";
      th.textContent = label;
      head.appendChild(th);
    });
    const body = table.createTBody();
    data.x.forEach(function (x, i) {
      const row = body.insertRow();
      const th = document.createElement("th");
      th.scope = "row";
      th.textContent = formatX(data.x_kind, x);
      row.appendChild(th);
      data.series.forEach(function (s) {
        const td = row.insertCell();
        td.className = "num";
        const v = s.values[i];
        td.textContent = v === null || v === undefined ? "—" : String(v);
      });
    });
    wrap.replaceChildren(table);
  }

  function ensureParts(figure) {
    let plot = figure.querySelector(".run-chart-plot");
    if (!plot) {
      plot = document.createElement("div");
      plot.className = "run-chart-plot";
      figure.appendChild(plot);
    }
    let details = figure.querySelector("details.chart-data");
    if (!details) {
      details = document.createElement("details");
      details.className = "chart-data";
      const summary = document.createElement("summary");
      const title = (figure.querySelector("h3, h2") || {}).textContent || "Chart";
      summary.textContent = title + " as a table";
      details.appendChild(summary);
      figure.appendChild(details);
    }
    if (!details._chartWired) {
      details._chartWired = true;
      details.addEventListener("toggle", function () { fillTable(figure); });
    }
    return plot;
  }

  function draw(figure, data) {
    const started = performance.now();
    drawInto(figure, data);
    window.launchuiCharts.drawMs += performance.now() - started;
  }

  function drawInto(figure, data) {
    const plot = ensureParts(figure);
    figure._chartData = data;
    const empty = !data.x || !data.x.length;
    if (empty) {
      if (figure._uplot) { figure._uplot.destroy(); figure._uplot = null; }
      plot.textContent = "No data yet.";
      figure.dataset.chartState = "empty";
    } else if (figure._uplot && figure._uplotKind === data.x_kind && figure._uplotSeries === data.series.length) {
      figure._uplot.setData(plotData(figure, data));
      figure.dataset.chartState = "drawn";
    } else {
      if (figure._uplot) figure._uplot.destroy();
      plot.textContent = "";
      const width = Math.max(200, plot.clientWidth || figure.clientWidth || 300);
      figure._uplot = new window.uPlot(options(figure, data, width), plotData(figure, data), plot);
      figure._uplotKind = data.x_kind;
      figure._uplotSeries = data.series.length;
      figure.dataset.chartState = "drawn";
    }
    figure.dataset.chartPoints = String(data.x ? data.x.length : 0);
    fillTable(figure);
    schedule(figure, data.live);
  }

  // While the run is live, fetch again `data-chart-live` ms after the last answer (never two requests of
  // one chart at once, however slow the server), and only while the page is visible.
  function schedule(figure, live) {
    const every = parseInt(figure.dataset.chartLive || "0", 10);
    if (figure._chartTimer) clearTimeout(figure._chartTimer);
    figure._chartTimer = null;
    if (!(every > 0 && live && figure.isConnected)) return;
    figure._chartTimer = setTimeout(function tick() {
      if (!figure.isConnected) return;
      if (document.visibilityState === "visible") load(figure);
      else figure._chartTimer = setTimeout(tick, every);
    }, every);
  }

  function load(figure) {
    if (!figure.dataset.chartState) figure.dataset.chartState = "loading";
    return fetch(urlOf(figure), { credentials: "same-origin", headers: { Accept: "application/json" } })
      .then(function (response) {
        if (!response.ok) throw new Error("HTTP " + response.status);
        return response.json();
      })
      .then(function (data) { draw(figure, data); })
      .catch(function () {
        schedule(figure, true);  // a live chart tries again later
        figure.dataset.chartState = "error";
        const plot = ensureParts(figure);
        if (!figure._uplot) plot.textContent = "This chart's data could not be loaded.";
      });
  }

  function figures(root) {
    return Array.from((root || document).querySelectorAll("[data-chart-src]"));
  }

  function refreshAll(root) {
    return Promise.all(figures(root).map(load));
  }

  function resmooth(group) {
    figures(group).forEach(function (figure) {
      if (figure._uplot && figure._chartData) figure._uplot.setData(plotData(figure, figure._chartData));
    });
  }

  function start() {
    if (!window.uPlot) return;
    const all = figures(document);
    if (!all.length) return;
    performance.mark("charts:start");
    refreshAll(document).then(function () {
      return new Promise(function (resolve) { requestAnimationFrame(function () { resolve(); }); });
    }).then(function () {
      performance.mark("charts:end");  // after the next frame, so that uPlot's deferred painting counts
      const measure = performance.measure("charts:drawn", "charts:start", "charts:end");
      resolveDrawn({
        charts: all.length,
        duration: measure ? measure.duration : null,
        drawMs: window.launchuiCharts.drawMs,
      });
    });
    document.querySelectorAll("form[data-chart-controls]").forEach(function (form) {
      const group = form.closest("[data-chart-group]") || document;
      form.addEventListener("submit", function (event) { event.preventDefault(); });
      form.addEventListener("change", function (event) {
        if (event.target.name === "x") refreshAll(group);
      });
      form.addEventListener("input", function (event) {
        if (event.target.name === "smoothing") {
          const out = form.querySelector("output[for='" + event.target.id + "']");
          if (out) out.textContent = event.target.value;
          resmooth(group);
        }
      });
    });
    if (window.ResizeObserver) {
      const observer = new ResizeObserver(function (entries) {
        entries.forEach(function (entry) {
          const figure = entry.target.closest("[data-chart-src]");
          if (figure && figure._uplot) {
            const width = Math.max(200, Math.floor(entry.contentRect.width));
            if (width !== figure._uplot.width) figure._uplot.setSize({ width: width, height: HEIGHT });
          }
        });
      });
      all.forEach(function (figure) { observer.observe(ensureParts(figure)); });
    }
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
  else start();
})();
