// Insights → Goals → a goal's page: draws its charts (Chart.js and revenue_chart.js, loaded before this
// file) from the page's
// JSON blocks: the trend of outcomes and base revenue per day, and for a multi-step goal the funnel of
// its steps and its cycles by state. Every figure is also in a table on the page.
"use strict";

(() => {
  if (typeof window.Chart === "undefined") return;
  const STATE_COLORS = { Completed: "#0f7b4f", Partial: "#f59e0b", Incomplete: "#c5cad8" };

  const dataOf = (id) => {
    const block = document.getElementById(id);
    return block ? JSON.parse(block.textContent) : null;
  };
  const common = {
    responsive: true,
    maintainAspectRatio: false,
    animation: false, // figures, not a show: drawn at once, and never caught mid-way by a resize
  };

  function drawTrend() {
    const canvas = document.getElementById("goal-trend-chart");
    const data = dataOf("goal-trend-data");
    if (!canvas || !data) return;
    const revenue = window.ComerixRevenue.lines(data.revenue, { pointRadius: 2 });
    const datasets = [
      { type: "bar", label: "Outcomes", data: data.outcomes, backgroundColor: "#4f46e5", yAxisID: "y", order: 2 },
      ...revenue.datasets,
    ];
    new window.Chart(canvas, {
      type: "bar",
      data: { labels: data.labels, datasets },
      options: {
        ...common,
        interaction: { mode: "index", intersect: false },
        scales: {
          x: { grid: { display: false } },
          y: { beginAtZero: true, ticks: { precision: 0 }, title: { display: true, text: "Outcomes" } },
          y1: revenue.axis,
        },
        plugins: { legend: { position: "bottom" }, tooltip: revenue.tooltip },
      },
    });
  }

  // The funnel: a horizontal bar per step, in the goal's order, of the cycles that reached it; the
  // cycles that stopped there (reached it last and never completed) stacked beside it in red.
  function drawFunnel() {
    const canvas = document.getElementById("goal-funnel-chart");
    const data = dataOf("goal-funnel-data");
    if (!canvas || !data) return;
    const reachedOnly = data.reached.map((reached, index) => reached - data.drop_off[index]);
    canvas.parentElement.style.height = `${Math.max(200, 60 + 44 * data.labels.length)}px`; // a bar per step
    new window.Chart(canvas, {
      type: "bar",
      data: {
        labels: data.labels,
        datasets: [
          { label: "Reached, then went on", data: reachedOnly, backgroundColor: "#4f46e5", stack: "steps" },
          { label: "Stopped here (drop-off)", data: data.drop_off, backgroundColor: "#e5484d", stack: "steps" },
        ],
      },
      options: {
        ...common,
        indexAxis: "y",
        interaction: { mode: "index", intersect: false },
        scales: {
          x: { stacked: true, beginAtZero: true, ticks: { precision: 0 }, title: { display: true, text: "Cycles" } },
          y: { stacked: true, grid: { display: false } },
        },
        plugins: {
          legend: { position: "bottom" },
          tooltip: {
            callbacks: {
              footer: (items) => {
                const index = items[0].dataIndex;
                return `Reached: ${data.reached[index]} (${data.share[index]} of started)`;
              },
            },
          },
        },
      },
    });
  }

  function drawStates() {
    const canvas = document.getElementById("goal-states-chart");
    const data = dataOf("goal-states-data");
    if (!canvas || !data) return;
    new window.Chart(canvas, {
      type: "bar",
      data: {
        labels: data.labels,
        datasets: Object.entries(data.states).map(([label, values]) => ({
          label,
          data: values,
          backgroundColor: STATE_COLORS[label],
          stack: "cycles",
        })),
      },
      options: {
        ...common,
        interaction: { mode: "index", intersect: false },
        scales: {
          x: { stacked: true, grid: { display: false } },
          y: { stacked: true, beginAtZero: true, ticks: { precision: 0 }, title: { display: true, text: "Cycles started" } },
        },
        plugins: { legend: { position: "bottom" } },
      },
    });
  }

  drawTrend();
  drawFunnel();
  drawStates();
})();
