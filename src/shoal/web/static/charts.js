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
    // The model page: live error per monitoring window, against the version's own
    // evaluated error (a dashed line, named in the figure's caption) when training
    // recorded one. Windows are categories: one window is one point, not a time axis.
    errors: function (element, data) {
      var shapes = [];
      if (data.recorded !== null && data.recorded !== undefined) {
        shapes.push({ type: "line", xref: "paper", x0: 0, x1: 1, y0: data.recorded,
          y1: data.recorded, line: { dash: "dash", color: "#5b6475" } });
      }
      Plotly.newPlot(element, [
        { type: "scatter", mode: "lines+markers", name: "live " + data.metric, x: data.x,
          y: data.live }
      ], {
        margin: { t: 10, r: 10, b: 40, l: 60 },
        xaxis: { type: "category" },
        yaxis: { title: { text: data.metric }, rangemode: "tozero" },
        shapes: shapes,
        showlegend: false
      }, CONFIG);
    },
    // The model page: the largest feature PSI and the predictions' PSI per window.
    drift: function (element, data) {
      Plotly.newPlot(element, [
        { type: "scatter", mode: "lines+markers", name: "largest feature PSI", x: data.x,
          y: data.max_psi },
        { type: "scatter", mode: "lines+markers", name: "prediction PSI", x: data.x,
          y: data.prediction_psi }
      ], {
        margin: { t: 10, r: 10, b: 40, l: 60 },
        xaxis: { type: "category" },
        yaxis: { title: { text: "PSI" }, rangemode: "tozero" },
        shapes: [{ type: "line", xref: "paper", x0: 0, x1: 1, y0: 0.2, y1: 0.2,
          line: { dash: "dot", color: "#b42318" } }],
        legend: { orientation: "h" }
      }, CONFIG);
    }
  };

  // A block with data-src holds no data: the chart's figures are fetched from that URL
  // (same origin, JSON), so the page did not spend their query before its first byte.
  function drawOne(name, element, block) {
    var source = block.getAttribute("data-src");
    if (!source) {
      element.textContent = "";
      charts[name](element, JSON.parse(block.textContent));
      return;
    }
    fetch(source, { credentials: "same-origin", headers: { Accept: "application/json" } })
      .then(function (answer) {
        if (!answer.ok) {
          throw new Error("HTTP " + answer.status);
        }
        return answer.json();
      })
      .then(function (data) {
        if (!data.counts || !data.counts.length) {
          element.textContent = "No model here has " + data.name + ".";
          return;
        }
        element.textContent = "";
        element.setAttribute("aria-label", element.getAttribute("aria-label") + ": " +
          data.count + " models");
        charts[name](element, { x: data.x, y: data.counts, name: data.name });
      })
      .catch(function (error) {
        element.textContent = "The chart could not be drawn (" + error.message + ").";
      });
  }

  function draw() {
    Object.keys(charts).forEach(function (name) {
      var element = document.getElementById(name);
      var block = document.getElementById(name + "-data");
      if (element && block) {
        drawOne(name, element, block);
      }
    });
  }

  // plotly is 4.8 MB: fetched and parsed only after the page has painted its content (the
  // load event), and only by a page that has a chart. Until then a chart's box shows its
  // text alternative.
  function loadPlotly() {
    var wanted = Object.keys(charts).some(function (name) {
      return document.getElementById(name + "-data");
    });
    if (!wanted) {
      return;
    }
    if (window.Plotly) {
      draw();
      return;
    }
    var script = document.createElement("script");
    script.src = "/static/plotly.min.js";
    script.onload = draw;
    document.head.appendChild(script);
  }

  if (document.readyState === "complete") {
    loadPlotly();
  } else {
    window.addEventListener("load", loadPlotly);
  }
})();
