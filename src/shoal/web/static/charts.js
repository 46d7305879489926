/* Shoal's charts, drawn with plotly (served by the app, no CDN).
 *
 * The pages hold no inline script (their Content-Security-Policy allows none): a chart's
 * data travels in a <script type="application/json" id="NAME-data"> block, which the
 * browser does not run, and is drawn here into the element with id NAME.
 */
"use strict";

(function () {
  var CONFIG = { displayModeBar: false, responsive: true };

  var charts = {
    // The fleet page: how one metric spreads over the fleet's models.
    histogram: function (element, data) {
      Plotly.newPlot(element, [
        { type: "bar", x: data.x, y: data.y, marker: { color: "#1f5fbf" } }
      ], {
        margin: { t: 10, r: 10, b: 40, l: 50 },
        xaxis: { title: { text: data.name } },
        yaxis: { title: { text: "models" } }
      }, CONFIG);
    },
    // The model page: MAPE and the largest feature PSI per monitoring window.
    trend: function (element, data) {
      Plotly.newPlot(element, [
        { type: "scatter", mode: "lines+markers", name: "MAPE", x: data.x, y: data.mape },
        { type: "scatter", mode: "lines+markers", name: "max PSI", yaxis: "y2", x: data.x,
          y: data.max_psi }
      ], {
        margin: { t: 10, r: 60, b: 40, l: 60 },
        yaxis: { title: { text: "MAPE" } },
        yaxis2: { title: { text: "max PSI" }, overlaying: "y", side: "right" }
      }, CONFIG);
    }
  };

  function draw() {
    Object.keys(charts).forEach(function (name) {
      var element = document.getElementById(name);
      var block = document.getElementById(name + "-data");
      if (element && block) {
        charts[name](element, JSON.parse(block.textContent));
      }
    });
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", draw);
  } else {
    draw();
  }
})();
