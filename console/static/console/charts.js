/*
 * Draws every chart on a console page: each <canvas data-chart="ID"> gets `new Chart(canvas, config)`
 * with the JSON configuration in <script type="application/json" id="ID"> (built server-side in
 * console/star_ratings). No inline script, nothing from another host (the page's CSP forbids both).
 *
 * One plugin, "consoleLines", draws reference lines the configurations ask for:
 *   options.plugins.consoleLines.lines = [{axis: "x" | "y", value, label, color, dash}]
 * e.g. a measure's rate as a marker over its star bands, or cut points across a trend.
 */
(function () {
  "use strict";

  const consoleLines = {
    id: "consoleLines",
    afterDatasetsDraw(chart, _args, options) {
      const lines = (options && options.lines) || [];
      const { ctx, chartArea } = chart;
      lines.forEach((line) => {
        const scale = chart.scales[line.axis === "y" ? "y" : "x"];
        if (!scale) return;
        const at = scale.getPixelForValue(line.value);
        ctx.save();
        ctx.strokeStyle = line.color || "#222";
        ctx.lineWidth = line.width || 2;
        ctx.setLineDash(line.dash || []);
        ctx.beginPath();
        if (line.axis === "y") {
          ctx.moveTo(chartArea.left, at);
          ctx.lineTo(chartArea.right, at);
        } else {
          ctx.moveTo(at, chartArea.top);
          ctx.lineTo(at, chartArea.bottom);
        }
        ctx.stroke();
        if (line.label) {
          ctx.setLineDash([]);
          ctx.fillStyle = line.color || "#222";
          ctx.font = "11px sans-serif";
          if (line.axis === "y") {
            ctx.textAlign = "right";
            ctx.fillText(line.label, chartArea.right - 2, at - 3);
          } else {
            ctx.textAlign = "center";
            ctx.fillText(line.label, at, chartArea.top + 10);
          }
        }
        ctx.restore();
      });
    },
  };

  function draw() {
    if (!window.Chart) return;
    window.Chart.register(consoleLines);
    document.querySelectorAll("canvas[data-chart]").forEach((canvas) => {
      const source = document.getElementById(canvas.dataset.chart);
      if (!source || window.Chart.getChart(canvas)) return;
      const config = JSON.parse(source.textContent);
      config.options = Object.assign({ responsive: true, maintainAspectRatio: false, animation: false }, config.options);
      new window.Chart(canvas, config);
    });
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", draw);
  } else {
    draw();
  }
})();
