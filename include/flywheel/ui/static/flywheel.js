/* Draws the Flywheel page's charts from the JSON embedded in the page (#flywheel-data) with Chart.js.
   window.flywheelCharts[workload_id] = {quality, latency, history} lets tests read what was drawn. */
(function () {
  "use strict";
  var data = JSON.parse(document.getElementById("flywheel-data").textContent);
  var palette = ["#4269d0", "#efb118", "#ff725c", "#6cc5b0", "#3ca951", "#ff8ab7", "#a463f2", "#97bbf5", "#9c6b4e", "#9498a0"];
  var label = function (p) { return p.nim + " / " + p.experiment; };
  var x = function (p) { return p.cost === null || p.cost === undefined ? 0 : p.cost; };
  window.flywheelCharts = {};

  function canvas(kind, wid) {
    return document.querySelector('canvas[data-chart="' + kind + '"][data-workload="' + CSS.escape(wid) + '"]');
  }

  function quality(w) {
    var pts = w.points.map(function (p) { return {x: x(p), y: p.score, label: label(p), costMeasured: p.cost !== null && p.cost !== undefined}; });
    var datasets = [{
      label: "experiments", type: "scatter", data: pts, backgroundColor: "#4269d0", borderColor: "#4269d0",
      borderWidth: 2, pointRadius: 7, clip: false,
      pointStyle: pts.map(function (p) { return p.costMeasured ? "circle" : "crossRot"; })
    }];
    var rec = w.points.filter(function (p) { return p.recommended; });
    datasets.push({label: "recommended", type: "scatter", data: rec.map(function (p) { return {x: x(p), y: p.score, label: label(p)}; }),
      pointStyle: "star", pointRadius: 14, borderWidth: 3, borderColor: "#d62728", backgroundColor: "#d62728", clip: false});
    datasets.push({label: "Pareto front", type: "line", data: w.pareto.map(function (p) { return {x: x(p), y: p.score, label: label(p)}; }),
      borderColor: "#3ca951", borderDash: [6, 4], pointRadius: 0, fill: false});
    var xs = pts.map(function (p) { return p.x; });
    var prod = w.production && w.production.per_1m_output_tokens_usd;
    if (prod !== null && prod !== undefined) {
      xs.push(prod);
      datasets.push({label: "production (" + w.production.model_name + ")", type: "scatter",
        data: [{x: prod, y: 1.0, label: "production " + w.production.model_name}], pointStyle: "rectRot", pointRadius: 9,
        backgroundColor: "#9498a0"});
    }
    if (w.bar !== null && w.bar !== undefined) {
      var hi = Math.max.apply(null, xs.concat([1]));
      datasets.push({label: "bar (min quality " + w.bar + ")", type: "line", data: [{x: 0, y: w.bar}, {x: hi, y: w.bar}],
        borderColor: "#ff725c", pointRadius: 0, borderWidth: 2});
    }
    return new Chart(canvas("quality", w.workload_id), {
      type: "scatter", data: {datasets: datasets},
      options: {animation: false, responsive: true, maintainAspectRatio: false,
        scales: {x: {type: "linear", min: 0, title: {display: true, text: "$ / 1M output tokens (0 = cost not measured)"}},
                 y: {min: 0, max: 1.05, title: {display: true, text: w.primary_metric || "quality"}}},
        plugins: {tooltip: {callbacks: {label: function (c) { return c.raw.label + ": " + c.raw.y.toFixed(3); }}}}}
    });
  }

  function latency(w) {
    var bars = w.latency;
    return new Chart(canvas("latency", w.workload_id), {
      type: "bar",
      data: {labels: bars.map(label), datasets: [
        {label: "p50 ms", data: bars.map(function (b) { return b.p50_ms; }), backgroundColor: "#97bbf5"},
        {label: "p95 ms", data: bars.map(function (b) { return b.p95_ms; }), backgroundColor: "#4269d0"}]},
      options: {animation: false, responsive: true, maintainAspectRatio: false, scales: {y: {beginAtZero: true}}}
    });
  }

  function history(w) {
    var runs = [];
    w.history.forEach(function (s) { s.points.forEach(function (p) { if (runs.indexOf(p.run_id) < 0) runs.push(p.run_id); }); });
    var order = {};
    w.history.forEach(function (s) { s.points.forEach(function (p) { order[p.run_id] = p.at || ""; }); });
    runs.sort(function (a, b) { return order[a] < order[b] ? -1 : order[a] > order[b] ? 1 : 0; });
    return new Chart(canvas("history", w.workload_id), {
      type: "line",
      data: {labels: runs, datasets: w.history.map(function (s, i) {
        return {label: s.name, data: s.points.map(function (p) { return {x: p.run_id, y: p.score}; }),
          borderColor: palette[i % palette.length], backgroundColor: palette[i % palette.length], pointRadius: 4, spanGaps: true};
      })},
      options: {animation: false, responsive: true, maintainAspectRatio: false,
        scales: {y: {min: 0, max: 1.05}, x: {ticks: {maxRotation: 60, autoSkip: true}}}}
    });
  }

  data.forEach(function (w) {
    if (!canvas("quality", w.workload_id)) return;
    window.flywheelCharts[w.workload_id] = {quality: quality(w), latency: latency(w), history: history(w)};
  });
  document.body.setAttribute("data-charts-ready", "true");
})();
