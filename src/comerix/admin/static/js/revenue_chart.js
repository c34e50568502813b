// Base revenue drawn over a chart of counts, as the Analytics Hub and a goal's page both draw it: a line
// per base currency on a right-hand axis, its ticks and tooltips in that currency. Loaded after Chart.js
// and before the page's own script, which calls `ComerixRevenue.lines(revenue, extra)`.
"use strict";

window.ComerixRevenue = (() => {
  const COLORS = ["#0f7b4f", "#b42318", "#9a5b00", "#5d6478"];

  const currencyFormat = (currency) => {
    const format = new Intl.NumberFormat("en", { style: "currency", currency });
    return (value) => format.format(value);
  };

  // `revenue`: [{currency, values}]; `extra`: dataset options of the page's own (points, curve).
  // Answers the line datasets, the right-hand axis `y1` they use, and the tooltip for every dataset.
  function lines(revenue, extra) {
    const formats = {};
    const datasets = revenue.map((line, index) => {
      formats[line.currency] = currencyFormat(line.currency);
      const color = COLORS[index % COLORS.length];
      return {
        type: "line",
        label: `Base revenue (${line.currency})`,
        currency: line.currency,
        data: line.values.map(Number),
        borderColor: color,
        backgroundColor: color,
        yAxisID: "y1",
        order: 1,
        ...extra,
      };
    });
    const first = revenue.length ? revenue[0].currency : null;
    return {
      datasets,
      axis: {
        position: "right",
        beginAtZero: true,
        grid: { drawOnChartArea: false },
        title: { display: true, text: "Base revenue" },
        ticks: { callback: (value) => (first ? formats[first](value) : value) },
      },
      tooltip: {
        callbacks: {
          label: (item) => {
            const currency = item.dataset.currency;
            const value = currency ? formats[currency](item.parsed.y) : item.parsed.y;
            return `${item.dataset.label}: ${value}`;
          },
        },
      },
    };
  }

  return { lines };
})();
