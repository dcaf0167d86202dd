/**
 * The charts script, served as /assets/charts.js and loaded (after uPlot) only by the workers
 * page: plain JavaScript, no build step. It fetches the last hour of samples from
 * /api/samples, draws the five charts of <section id="charts"> with uPlot, then asks every
 * `data-refresh-ms` for the samples written since the last one and redraws. Series are
 * labelled with textContent by uPlot (a workflow's name is never markup). For the tests the
 * section says what it shows: data-state="empty" or "drawn", data-drawn="<samples drawn>".
 */
export const CHARTS_SCRIPT = `"use strict";
(function () {
  var root = document.getElementById("charts");
  if (!root || !window.uPlot) return;
  var uPlot = window.uPlot;
  var refreshMs = Number(root.getAttribute("data-refresh-ms")) || 10000;
  var url = root.getAttribute("data-samples");
  var empty = root.querySelector("[data-charts-empty]");
  var grid = root.querySelector("[data-charts-grid]");
  var select = root.querySelector("select[data-depth-status]");
  var note = root.querySelector("[data-depth-note]");
  var TOP = 6;
  /** Steps of a count's axis: whole numbers only. */
  var WHOLE = [1, 2, 5, 10, 20, 50, 100, 200, 500, 1e3, 2e3, 5e3, 1e4, 2e4, 5e4, 1e5, 2e5, 5e5, 1e6, 2e6, 5e6];
  var PALETTE = ["#2563eb", "#dc2626", "#059669", "#d97706", "#7c3aed", "#0891b2", "#db2777"];
  var samples = [];
  var windowS = 3600;
  var skewMs = 0;
  var charts = {};
  var depthKey = "";

  function time(s) { return Date.parse(s.at) / 1000; }

  function count(v) {
    if (v == null) return "-";
    if (Math.abs(v) >= 1e6) return (v / 1e6).toFixed(1) + "M";
    if (Math.abs(v) >= 1e4) return (v / 1e3).toFixed(0) + "k";
    if (Math.abs(v) >= 1e3) return (v / 1e3).toFixed(1) + "k";
    return String(Math.round(v * 10) / 10);
  }

  function ms(v) {
    if (v == null) return "-";
    if (v === 0) return "0";
    if (v < 1) return v.toFixed(2) + " ms";
    if (v < 1000) return Math.round(v) + " ms";
    if (v < 60000) return (v / 1000).toFixed(1) + " s";
    return (v / 60000).toFixed(1) + " min";
  }

  /** The x values and a row per sample; a null row where samples are missing (a gap, not a line). */
  function rows() {
    var xs = [];
    var out = [];
    samples.forEach(function (s, i) {
      var prev = samples[i - 1];
      if (prev && time(s) - time(prev) > 1.5 * s.seconds) {
        xs.push(time(prev) + s.seconds);
        out.push(null);
      }
      xs.push(time(s));
      out.push(s);
    });
    return { xs: xs, rows: out };
  }

  function column(list, f) {
    return list.map(function (r) { return r == null ? null : f(r); });
  }

  /** The workflows the depth chart draws: the TOP busiest (by peak) for the chosen status. */
  function depthSeries(status) {
    var peak = {};
    samples.forEach(function (s) {
      Object.keys(s.depth || {}).forEach(function (w) {
        var n = (s.depth[w] || {})[status] || 0;
        peak[w] = Math.max(peak[w] || 0, n);
      });
    });
    var names = Object.keys(peak).sort(function (a, b) { return peak[b] - peak[a] || (a < b ? -1 : 1); });
    return { shown: names.slice(0, TOP), total: names.length };
  }

  function specs() {
    var status = select ? select.value : "queued";
    var depth = depthSeries(status);
    return {
      throughput: { fmt: count, series: [
        { label: "actions/s", color: PALETTE[0], f: function (s) { return s.actionsPerSecond; } },
        { label: "failures/s", color: PALETTE[1], f: function (s) { return s.failuresPerSecond; } },
      ] },
      step: { fmt: ms, series: [
        { label: "p50", color: PALETTE[0], f: function (s) { return s.stepP50Ms; } },
        { label: "p95", color: PALETTE[4], f: function (s) { return s.stepP95Ms; } },
      ] },
      duration: { fmt: ms, series: [
        { label: "p50", color: PALETTE[5], f: function (s) { return s.durationP50Ms; } },
        { label: "p95", color: PALETTE[6], f: function (s) { return s.durationP95Ms; } },
      ] },
      lag: { fmt: ms, series: [
        { label: "p50", color: PALETTE[2], f: function (s) { return s.lagP50Ms; } },
        { label: "p95", color: PALETTE[3], f: function (s) { return s.lagP95Ms; } },
      ] },
      depth: { fmt: count, whole: true, key: status + "\\u0000" + depth.shown.join("\\u0000"), status: status, total: depth.total,
        series: depth.shown.map(function (w, i) {
          return { label: w, color: PALETTE[i % PALETTE.length], f: function (s) { return ((s.depth || {})[w] || {})[status] || 0; } };
        }) },
    };
  }

  function plotOf(name) { return root.querySelector('[data-chart="' + name + '"] .plot'); }

  function create(name, spec, data) {
    var el = plotOf(name);
    el.textContent = "";
    var y = { size: 64, values: function (u, splits) { return splits.map(spec.fmt); } };
    if (spec.whole) y.incrs = WHOLE;
    return new uPlot({
      width: Math.max(280, el.clientWidth),
      height: 200,
      tzDate: function (ts) { return uPlot.tzDate(new Date(ts * 1000), "Etc/UTC"); },
      cursor: { drag: { x: false, y: false } },
      scales: {
        x: { time: true, range: function () { var now = (Date.now() + skewMs) / 1000; return [now - windowS, now]; } },
        y: { range: function (u, min, max) { return [0, max > 0 ? max * 1.15 : 1]; } },
      },
      axes: [
        { values: function (u, splits) { return splits.map(function (ts) { return new Date(ts * 1000).toISOString().slice(11, 16); }); } },
        y,
      ],
      series: [{ value: function (u, ts) { return ts == null ? "-" : new Date(ts * 1000).toISOString().slice(11, 19) + " UTC"; } }].concat(spec.series.map(function (s) {
        return { label: s.label, stroke: s.color, width: 2, value: function (u, v) { return spec.fmt(v); } };
      })),
    }, data, el);
  }

  function draw() {
    var has = samples.length > 0;
    empty.hidden = has;
    grid.hidden = !has;
    root.setAttribute("data-state", has ? "drawn" : "empty");
    root.setAttribute("data-drawn", String(samples.length));
    if (!has) return;
    var r = rows();
    var all = specs();
    Object.keys(all).forEach(function (name) {
      var spec = all[name];
      var data = [r.xs].concat(spec.series.map(function (s) { return column(r.rows, s.f); }));
      var same = charts[name] && (name !== "depth" || spec.key === depthKey);
      if (same) charts[name].setData(data);
      else {
        if (charts[name]) charts[name].destroy();
        charts[name] = create(name, spec, data);
      }
      if (name === "depth") {
        depthKey = spec.key;
        var capped = samples.some(function (s) { return (s.capped || []).indexOf(spec.status) >= 0; });
        var parts = [];
        if (spec.total > spec.series.length) parts.push("the " + spec.series.length + " busiest of " + spec.total + " workflows");
        if (capped) parts.push("counts stop at the sampler's cap: the real numbers are higher");
        note.textContent = parts.join("; ");
      }
    });
  }

  function load() {
    var last = samples[samples.length - 1];
    var q = last ? "?since=" + encodeURIComponent(last.at) : "";
    return fetch(url + q, { headers: { Accept: "application/json" } })
      .then(function (res) {
        if (!res.ok) throw new Error("GET " + url + " answered " + res.status);
        return res.json();
      })
      .then(function (body) {
        windowS = body.windowMs / 1000;
        skewMs = Date.parse(body.now) - Date.now();
        var cut = (Date.now() + skewMs) / 1000 - windowS;
        samples = samples.concat(body.samples).filter(function (s) { return time(s) > cut; });
        draw();
      })
      .catch(function (err) { console.warn("waymark: charts not refreshed:", err.message); })
      .then(function () { setTimeout(load, refreshMs); });
  }

  if (select) select.addEventListener("change", draw);
  window.addEventListener("resize", function () {
    Object.keys(charts).forEach(function (name) {
      charts[name].setSize({ width: Math.max(280, plotOf(name).clientWidth), height: 200 });
    });
  });
  load();
})();
`;
