// Insights → Analytics: draws the series chart (Chart.js and revenue_chart.js, loaded before this file)
// from the page's JSON block, and helps with the filter form.
"use strict";

(() => {
  const COLORS = { Conversions: "#4f46e5", Engagements: "#0ea5e9", Custom: "#f59e0b" };

  // The previous period, faint and dashed under the report's own: its outcomes on the left axis and
  // its base revenue on the right, its first period under the report's first.
  function previousLines(previous, labels) {
    const faint = { type: "line", pointRadius: 0, borderWidth: 1.5, borderDash: [5, 4], tension: 0 };
    return [
      {
        ...faint,
        label: `Outcomes, ${previous.label}`,
        data: previous.outcomes.slice(0, labels.length),
        borderColor: "rgba(79, 70, 229, 0.45)",
        backgroundColor: "rgba(79, 70, 229, 0.45)",
        yAxisID: "y",
        stack: "previous-outcomes", // drawn beside the stacked bars, never added to them
        order: 0,
      },
      {
        ...faint,
        label: `Base revenue (${previous.revenue.currency}), ${previous.label}`,
        currency: previous.revenue.currency,
        data: previous.revenue.values.slice(0, labels.length).map(Number),
        borderColor: "rgba(15, 123, 79, 0.45)",
        backgroundColor: "rgba(15, 123, 79, 0.45)",
        yAxisID: "y1",
        order: 0,
      },
    ];
  }

  function drawChart() {
    const canvas = document.getElementById("analytics-chart");
    const block = document.getElementById("analytics-chart-data");
    if (!canvas || !block || typeof window.Chart === "undefined") return;
    const data = JSON.parse(block.textContent);
    const revenue = window.ComerixRevenue.lines(data.revenue, {
      pointRadius: data.labels.length > 60 ? 0 : 2,
      tension: 0, // straight between two periods: a curve would show figures no period has
    });
    const datasets = Object.entries(data.counts).map(([label, values]) => ({
      type: "bar",
      label,
      data: values,
      backgroundColor: COLORS[label],
      stack: "outcomes",
      yAxisID: "y",
      order: 2,
    }));
    datasets.push(...revenue.datasets);
    if (data.previous) datasets.push(...previousLines(data.previous, data.labels));
    new window.Chart(canvas, {
      type: "bar",
      data: { labels: data.labels, datasets },
      options: {
        responsive: true,
        maintainAspectRatio: false,
        animation: false, // figures, not a show: drawn at once, and never caught mid-way by a resize
        interaction: { mode: "index", intersect: false },
        scales: {
          x: { stacked: true, grid: { display: false } },
          y: {
            stacked: true,
            beginAtZero: true,
            ticks: { precision: 0 },
            title: { display: true, text: "Outcomes" },
          },
          y1: revenue.axis,
        },
        plugins: { legend: { position: "bottom" }, tooltip: revenue.tooltip },
      },
    });
  }

  // The filter form works as a plain GET form; with this script, choosing a preset shows its dates,
  // editing a date switches the range to "Custom dates", and the URL keeps only the filters in use.
  function enhanceFilters() {
    const form = document.getElementById("analytics-filters");
    const range = document.getElementById("range");
    const from = document.getElementById("from");
    const to = document.getElementById("to");
    const presetBlock = document.getElementById("analytics-presets");
    if (!form || !range || !from || !to) return;
    const presets = presetBlock ? JSON.parse(presetBlock.textContent) : {};
    range.addEventListener("change", () => {
      const dates = presets[range.value];
      if (dates) [from.value, to.value] = dates;
    });
    for (const input of [from, to]) {
      input.addEventListener("change", () => { range.value = "custom"; });
    }
    form.addEventListener("submit", (event) => {
      event.preventDefault();
      const params = new URLSearchParams();
      for (const [name, value] of new FormData(form)) {
        const presetDate = (name === "from" || name === "to") && range.value in presets;
        if (value !== "" && !presetDate) params.append(name, value);
      }
      const query = params.toString();
      window.location.assign(form.action + (query ? `?${query}` : ""));
    });
  }

  enhanceFilters();
  drawChart();
})();
