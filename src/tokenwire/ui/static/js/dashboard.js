// The live dashboard: telemetry summaries pushed over SSE (GET /v1/telemetry/stream), drawn
// with the vendored uPlot. No reloads: each pushed summary replaces the charts' data.

import { authHeaders, httpError, mountKeyField } from "./api.js";
import { DASH, el, ms, percent, rate, usd } from "./format.js";
import { readEventStream } from "./sse.js";

// ?window=60&bucket=1 zooms in (seconds); the server checks the values.
const params = new URLSearchParams(location.search);
const WINDOW_S = Number(params.get("window")) || 300;
const BUCKET_S = Number(params.get("bucket")) || 5;
const HEIGHT = 200;
const COLORS = ["#2563eb", "#dc2626", "#16a34a", "#9333ea", "#ea580c", "#0891b2", "#ca8a04", "#db2777"];

const $ = (id) => document.getElementById(id);
const charts = {};
const activeHistory = []; // [epoch s, live runs], from every summary received
const state = { charts, summary: null, updates: 0 };
window.tokenwireDashboard = state; // for debugging in the console (and the browser tests)

function chart(id, series, { yLabel = "", percentAxis = false } = {}) {
  const node = $(id);
  const options = {
    width: Math.max(node.clientWidth, 300),
    height: HEIGHT,
    scales: { x: { time: true }, y: { range: (_, min, max) => [0, Math.max(max ?? 0, percentAxis ? 0.05 : 1) * 1.1] } },
    series: [
      {},
      ...series.map((label, i) => ({
        label,
        stroke: COLORS[i % COLORS.length],
        width: 2,
        spanGaps: false,
        points: { show: true, size: 5, fill: COLORS[i % COLORS.length] },
        value: (_, v) => (v === null ? DASH : percentAxis ? percent(v) : v.toFixed(1)),
      })),
    ],
    axes: [
      {},
      {
        label: yLabel,
        size: 56,
        values: percentAxis ? (_, ticks) => ticks.map((t) => `${Math.round(t * 100)}%`) : undefined,
      },
    ],
  };
  node.replaceChildren();
  const plot = new uPlot(options, [[], ...series.map(() => [])], node);
  plot.labels = series;
  return plot;
}

function setup() {
  charts.ttft = chart("chart-ttft", ["p50", "p95"], { yLabel: "ms" });
  charts.itl = chart("chart-itl", ["p50", "p95"], { yLabel: "ms" });
  charts.speed = chart("chart-speed", ["tokens/s"], { yLabel: "tok/s" });
  charts.active = chart("chart-active", ["live runs"], { yLabel: "runs" });
  charts.errors = chart("chart-errors", ["(no errors)"], { yLabel: "", percentAxis: true });
  window.addEventListener("resize", () => {
    for (const [key, plot] of Object.entries(charts)) {
      plot.setSize({ width: Math.max($(`chart-${key}`).clientWidth, 300), height: HEIGHT });
    }
  });
}

function update(summary) {
  const { series, totals } = summary;
  state.summary = summary;
  state.updates += 1;
  charts.ttft.setData([series.t, series.ttft_p50_ms, series.ttft_p95_ms]);
  charts.itl.setData([series.t, series.itl_p50_ms, series.itl_p95_ms]);
  charts.speed.setData([series.t, series.tokens_per_s]);

  activeHistory.push([summary.now, summary.active.total]);
  while (activeHistory.length && activeHistory[0][0] <= series.t[0]) activeHistory.shift();
  // Seen only since this page opened: a leading empty point keeps the x-axis the window's.
  const since = [series.t[0], ...activeHistory.map((p) => p[0])];
  charts.active.setData([since, [null, ...activeHistory.map((p) => p[1])]]);

  const codes = Object.keys(series.error_rate_by_code);
  const labels = codes.length ? codes : ["(no errors)"];
  if (labels.join() !== charts.errors.labels.join()) {
    charts.errors.destroy();
    charts.errors = chart("chart-errors", labels, { percentAxis: true });
  }
  const rates = codes.length ? codes.map((c) => series.error_rate_by_code[c]) : [series.t.map(() => null)];
  charts.errors.setData([series.t, ...rates]);

  $("tile-active").textContent = String(summary.active.total);
  $("tile-runs").textContent = String(totals.runs);
  $("tile-ttft").textContent = totals.ttft_p50_ms === null ? DASH : `${ms(totals.ttft_p50_ms)} / ${ms(totals.ttft_p95_ms)}`;
  $("tile-itl").textContent = totals.itl_p50_ms === null ? DASH : `${ms(totals.itl_p50_ms)} / ${ms(totals.itl_p95_ms)}`;
  $("tile-speed").textContent = rate(totals.tokens_per_s);
  $("tile-errors").textContent = percent(totals.error_rate);
  // Not errors: what users stopped, and what nobody was left to read.
  $("tile-cancelled").textContent = String(totals.cancellations);
  $("tile-disconnects").textContent = String(totals.disconnects);
  const unpriced = summary.cost_by_route_model.some((row) => row.unpriced_runs > 0);
  $("tile-cost").textContent = totals.runs && !totals.cost_usd && unpriced ? "unpriced" : usd(totals.cost_usd);

  $("cost-table").tBodies[0].replaceChildren(
    ...summary.cost_by_route_model.map((row) =>
      el(
        "tr",
        {},
        el("td", { text: row.route }),
        el("td", { class: "mono", text: row.model }),
        el("td", { class: "num", text: String(row.runs) }),
        el("td", { class: "num", text: String(row.output_tokens) }),
        el("td", {
          class: "num",
          text: row.unpriced_runs === row.runs ? "unpriced" : usd(row.cost_usd),
          title: row.unpriced_runs ? `${row.unpriced_runs} run(s) of an unpriced model` : undefined,
        }),
      ),
    ),
  );
  $("cohort-table").tBodies[0].replaceChildren(
    ...(summary.by_cohort || []).map((row) =>
      el(
        "tr",
        {},
        el("td", { text: row.route }),
        el("td", { class: "mono", text: row.cohort }),
        el("td", { class: "num", text: String(row.runs) }),
        el("td", { class: "num", text: percent(row.error_rate) }),
        el("td", { class: "num", text: row.ttft_p95_ms === null ? DASH : ms(row.ttft_p95_ms) }),
        el("td", { class: "num", text: row.itl_p95_ms === null ? DASH : ms(row.itl_p95_ms) }),
        el("td", { class: "num", text: usd(row.cost_usd) }),
      ),
    ),
  );
  $("error-table").tBodies[0].replaceChildren(
    ...Object.entries(summary.errors_by_code).map(([code, count]) =>
      el("tr", {}, el("td", { text: code }), el("td", { class: "num", text: String(count) })),
    ),
  );
}

function setLive(text, stateName) {
  $("live").textContent = text;
  $("live").dataset.state = stateName;
}

async function follow() {
  let failures = 0;
  for (;;) {
    try {
      const response = await fetch(`/v1/telemetry/stream?window=${WINDOW_S}&bucket=${BUCKET_S}`, {
        headers: authHeaders({ Accept: "text/event-stream" }),
      });
      if (!response.ok) throw await httpError(response);
      setLive("live", "live");
      await readEventStream(response, (event) => {
        if (event.event === "summary") {
          failures = 0;
          update(JSON.parse(event.data));
        }
      });
    } catch (error) {
      if (error.status === 401 || error.status === 403) {
        setLive(error.message, "reconnecting");
        await new Promise((resolve) => $("api-key").addEventListener("change", resolve, { once: true }));
        continue;
      }
    }
    failures += 1;
    setLive(`reconnecting (attempt ${failures})`, "reconnecting");
    await new Promise((resolve) => setTimeout(resolve, Math.min(250 * 2 ** failures, 5000)));
  }
}

mountKeyField($("api-key"));
$("window").textContent = WINDOW_S >= 120 ? `${WINDOW_S / 60} min` : `${WINDOW_S} s`;
$("bucket").textContent = `${BUCKET_S} s`;
setup();
follow();
