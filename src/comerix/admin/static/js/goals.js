// Insights → Goals, the goal form: shows only the fields of the chosen value mode, and runs "Try it"
// (the unsaved form, posted as JSON to the page's preview route) to show what the goal would match.
"use strict";

(() => {
  const form = document.getElementById("goal-form");
  if (!form) return;
  const settings = JSON.parse(document.getElementById("goal-form-data").textContent);

  // Value mode: the fields of the other modes are hidden, and disabled so the form does not send them.
  const modeSelect = form.querySelector("#value_mode");
  const groups = form.querySelectorAll("[data-value-modes]");
  const applyValueMode = () => {
    for (const group of groups) {
      const shown = group.dataset.valueModes.split(" ").includes(modeSelect.value);
      group.hidden = !shown;
      for (const control of group.querySelectorAll("input, select, textarea")) control.disabled = !shown;
    }
  };
  modeSelect.addEventListener("change", applyValueMode);
  applyValueMode();

  // Try it
  const panel = document.getElementById("try-it");
  const button = document.getElementById("try-it-button");
  const rangeSelect = document.getElementById("try-range");
  const results = document.getElementById("try-it-results");
  panel.hidden = false;

  const element = (tag, text, className) => {
    const node = document.createElement(tag);
    if (text !== undefined && text !== null) node.textContent = text;
    if (className) node.className = className;
    return node;
  };
  const json = (value) => JSON.stringify(value);

  const propertiesOf = (event) => {
    const details = element("details");
    details.append(element("summary", "Event properties"), element("pre", JSON.stringify(event.properties, null, 2), "json"));
    return details;
  };

  const showPreview = (preview, rangeText) => {
    const days = rangeText.replace("d", "");
    results.replaceChildren();
    const headline = element("p", null, "headline");
    headline.append(element("strong", String(preview.matched)), ` of ${preview.scanned} “${preview.trigger_event}” events of the last ${days} days would have matched.`);
    results.append(headline);
    if (preview.truncated) {
      results.append(element("p", `Only the newest ${preview.scanned} events were examined.`, "muted small"));
    }
    if (preview.scanned === 0) {
      results.append(element("p", `No “${preview.trigger_event}” events were stored in the last ${days} days. Event names are case-sensitive.`, "muted"));
      if (preview.similar_names.length) {
        results.append(element("p", `Names that differ only in case: ${preview.similar_names.join(", ")}.`));
      }
    }
    if (preview.samples.length) {
      results.append(element("h3", `Sample matches (newest ${preview.samples.length})`));
      const list = element("ul", null, "try-list samples");
      for (const sample of preview.samples) {
        const item = element("li");
        item.append(element("span", sample.local_time, "when"));
        if (sample.value !== null) {
          item.append(element("span", `${sample.value} ${sample.currency}`, "amount"));
          if (sample.base_value !== sample.value || sample.base_currency !== sample.currency) {
            item.append(` (base ${sample.base_value} ${sample.base_currency})`);
          }
        } else if (sample.value_error) {
          item.append(element("span", `No value: ${sample.value_error}`, "value-error"));
        } else {
          item.append(element("span", "Counted, without a value", "muted"));
        }
        item.append(propertiesOf(sample.event));
        list.append(item);
      }
      results.append(list);
    }
    if (preview.closest_misses.length) {
      results.append(element("h3", "Closest misses"));
      const list = element("ul", null, "try-list misses");
      for (const miss of preview.closest_misses) {
        const item = element("li");
        item.append(element("span", miss.local_time, "when"));
        const failed = element("ul", null, "failed");
        for (const condition of miss.failed) {
          const found = condition.missing ? "the property is missing" : `found ${json(condition.actual)}`;
          const line = element("li");
          line.append(element("code", condition.key), `: expected ${json(condition.expected)}, ${found}`);
          failed.append(line);
        }
        item.append(failed, propertiesOf(miss.event));
        list.append(item);
      }
      results.append(list);
    }
  };

  const showError = (payload, status) => {
    results.replaceChildren();
    const box = element("div", null, "flash flash-error try-error");
    box.setAttribute("role", "alert");
    const error = payload && payload.error;
    if (!error) {
      box.append(element("p", status ? `The preview failed (${status}). Try again.` : "The service could not be reached. Try again."));
      results.append(box);
      return;
    }
    const details = (error.details || []).filter((detail) => detail.field);
    box.append(element("p", details.length ? "Fix the form first:" : error.message));
    if (details.length) {
      const list = element("ul");
      for (const detail of details) {
        const item = element("li");
        const field = detail.field.split(".")[0];
        const target = form.querySelector(`#${CSS.escape(field)}`);
        if (target) {
          const link = element("a", detail.field);
          link.href = `#${field}`;
          item.append(link);
        } else {
          item.append(element("span", detail.field));
        }
        item.append(`: ${detail.message}`);
        list.append(item);
      }
      box.append(list);
    }
    results.append(box);
  };

  button.addEventListener("click", async () => {
    const body = {};
    for (const [name, value] of new FormData(form)) {
      if (name !== "csrf_token" && typeof value === "string") body[name] = value;
    }
    const rangeText = rangeSelect.value;
    button.disabled = true;
    results.setAttribute("aria-busy", "true");
    try {
      const response = await fetch(`${settings.preview_url}?range=${encodeURIComponent(rangeText)}`, {
        method: "POST",
        credentials: "same-origin",
        headers: {
          "Content-Type": "application/json",
          "Accept": "application/json",
          "X-CSRF-Token": form.elements.csrf_token.value,
        },
        body: JSON.stringify(body),
      });
      const payload = await response.json().catch(() => null);
      if (response.ok && payload) showPreview(payload, rangeText);
      else showError(payload, response.status);
    } catch {
      showError(null, 0);
    } finally {
      button.disabled = false;
      results.removeAttribute("aria-busy");
    }
  });
})();
