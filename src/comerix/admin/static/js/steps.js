// Insights → Steps: the page works without this script (the filters are a GET form, each step a link
// that selects it); with it, the URL keeps only the filters in use, and after a step was chosen the
// columns scroll sideways so that its children, the last column, are in sight.
"use strict";

(() => {
  function revealChosenChildren() {
    const strip = document.getElementById("step-columns");
    if (!strip || !new URLSearchParams(window.location.search).has("path")) return;
    const last = strip.lastElementChild;
    const overflow = last.offsetLeft + last.offsetWidth - strip.clientWidth;
    if (overflow > 0) strip.scrollLeft = overflow;
  }

  function dropEmptyFilters() {
    const form = document.getElementById("steps-filters");
    if (!form) return;
    form.addEventListener("submit", (event) => {
      event.preventDefault();
      const params = new URLSearchParams();
      for (const [name, value] of new FormData(form)) {
        if (value !== "") params.append(name, value);
      }
      const query = params.toString();
      window.location.assign(form.action + (query ? `?${query}` : ""));
    });
  }

  dropEmptyFilters();
  revealChosenChildren();
})();
