// Insights → Goals, the goal form: shows only the fields of the chosen goal type and value mode, runs
// the steps editor in the page (add, move, remove, retire: without this script the same buttons post the
// form and the server shows it again changed), and runs "Try it" (the unsaved form, posted as JSON to the
// page's preview route) to show what a single-event goal would match, or each step of a multi-step goal,
// tried alone. Data from the server is only ever put in the page as text (textContent), never as HTML.
"use strict";

(() => {
  const form = document.getElementById("goal-form");
  if (!form) return;
  const settings = JSON.parse(document.getElementById("goal-form-data").textContent);
  const panel = document.getElementById("try-it");
  const results = document.getElementById("try-it-results");

  // Goal type: the section of the other type is hidden, and disabled so the form does not send it.
  const shapeInputs = form.querySelectorAll("input[name=shape]");
  const shapeSections = form.querySelectorAll("[data-shape]");
  const chosenShape = () => {
    const checked = form.querySelector("input[name=shape]:checked");
    if (checked) return checked.value;
    return form.querySelector("#steps-editor") ? "steps" : "single";
  };
  const applyShape = () => {
    const shape = chosenShape();
    for (const section of shapeSections) {
      const shown = section.dataset.shape === shape;
      section.hidden = !shown;
      for (const control of section.querySelectorAll("input, select, textarea, button")) control.disabled = !shown;
    }
    panel.hidden = false;
    document.getElementById("try-it-steps-note").hidden = shape !== "steps";
    if (shape === "steps") renumberSteps();
  };
  for (const input of shapeInputs) {
    input.addEventListener("change", () => {
      applyShape();
      clearInlineErrors();
      results.replaceChildren(); // what was tried was the other type
    });
  }

  // A new goal's code follows its name (`Premium purchase!` → premium_purchase) until the user types a
  // code of their own; the edit page's code is read-only and never changes.
  const codeInput = form.querySelector("#code:not([readonly])");
  const nameInput = form.querySelector("#name");
  if (codeInput && nameInput) {
    const codeOf = (text) =>
      text
        .normalize("NFKD")
        .replace(/[\u0300-\u036f]/g, "") // é → e
        .toLowerCase()
        .replace(/[^a-z0-9]+/g, "_")
        .replace(/^[^a-z]+/, "") // a code starts with a letter
        .slice(0, 64)
        .replace(/_+$/, "");
    let suggested = codeInput.value === "" || codeInput.value === codeOf(nameInput.value) ? codeInput.value : null;
    nameInput.addEventListener("input", () => {
      if (suggested === null) return;
      suggested = codeOf(nameInput.value);
      codeInput.value = suggested;
    });
    codeInput.addEventListener("input", () => {
      suggested = codeInput.value === "" ? "" : null;
    });
  }

  // A goal created from an event: ticking one of its properties adds it to the match conditions (and
  // unticking takes it out), as long as those are a JSON object; a number or a currency code can
  // become the goal's value or currency.
  const conditions = form.querySelector("#match_conditions");
  for (const box of form.querySelectorAll(".pick-condition")) {
    box.addEventListener("change", () => {
      let current;
      try {
        current = conditions.value.trim() ? JSON.parse(conditions.value) : {};
      } catch {
        return; // the user's own text, not JSON yet: left as it is
      }
      if (current === null || typeof current !== "object" || Array.isArray(current)) return;
      if (box.checked) current[box.dataset.path] = JSON.parse(box.dataset.value);
      else delete current[box.dataset.path];
      conditions.value = JSON.stringify(current, null, 2);
      conditions.dispatchEvent(new Event("input")); // the conditions' rows follow (conditions.js)
    });
  }
  const valueMode = form.querySelector("#value_mode");
  for (const button of form.querySelectorAll("[data-use-value]")) {
    button.addEventListener("click", () => {
      valueMode.value = "from_property";
      valueMode.dispatchEvent(new Event("change"));
      form.querySelector("#value_property").value = button.dataset.useValue;
    });
  }
  for (const button of form.querySelectorAll("[data-use-currency]")) {
    button.addEventListener("click", () => {
      valueMode.value = "from_property";
      valueMode.dispatchEvent(new Event("change"));
      form.querySelector("#currency_property").value = button.dataset.useCurrency;
    });
  }

  // The steps editor. Rows keep their field names; their order is their position field.
  const rows = document.getElementById("step-rows");
  const rowTemplate = document.getElementById("step-row-template");
  function renumberSteps() {
    if (!rows) return;
    const all = [...rows.querySelectorAll(":scope > .step-row")];
    all.forEach((row, index) => {
      row.querySelector(".step-position").value = String(index);
      for (const number of row.querySelectorAll(".step-number")) number.textContent = String(index + 1);
      row.querySelector(".step-role").textContent = index === 0 ? " · start step" : "";
      const up = row.querySelector("[data-step-action=up]");
      const down = row.querySelector("[data-step-action=down]");
      const remove = row.querySelector("[data-step-action=remove]");
      up.disabled = index === 0;
      down.disabled = index === all.length - 1;
      up.setAttribute("aria-label", `Move step ${index + 1} up`);
      down.setAttribute("aria-label", `Move step ${index + 1} down`);
      if (remove) remove.setAttribute("aria-label", `Remove step ${index + 1}`);
    });
  }
  const nextRowNumber = () => {
    const numbers = [...rows.querySelectorAll(":scope > .step-row")].map((row) => Number(row.dataset.row));
    return numbers.length ? Math.max(...numbers) + 1 : 0;
  };
  const addStep = () => {
    const html = rowTemplate.innerHTML.replaceAll("__ROW__", String(nextRowNumber()));
    const holder = document.createElement("div");
    holder.innerHTML = html;
    const row = holder.firstElementChild;
    rows.append(row);
    renumberSteps();
    row.querySelector("input[type=text]").focus();
  };
  if (rows && rowTemplate) {
    form.addEventListener("click", (event) => {
      const button = event.target.closest("[data-step-action]");
      if (!button || !form.contains(button)) return;
      event.preventDefault();
      const action = button.dataset.stepAction;
      if (action === "add") return addStep();
      const row = button.closest(".step-row");
      if (action === "up" && row.previousElementSibling) row.previousElementSibling.before(row);
      if (action === "down" && row.nextElementSibling) row.nextElementSibling.after(row);
      if (action === "remove" && row.dataset.saved !== "true") {
        const next = row.nextElementSibling || row.previousElementSibling;
        row.remove();
        renumberSteps();
        const target = next && next.querySelector("input[type=text]");
        if (target) target.focus();
        return;
      }
      renumberSteps();
      button.focus(); // the button moved with its row: keep the keyboard where it was
    });
    rows.addEventListener("change", (event) => {
      if (event.target.matches("input[name$='-retired']")) {
        event.target.closest(".step-row").classList.toggle("retired", event.target.checked);
      }
    });
  }

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
  applyShape();

  // Try it
  const button = document.getElementById("try-it-button");
  const rangeSelect = document.getElementById("try-range");
  const STEP_SAMPLES = 3; // of the 10 the service answers per step: the panel lists every step
  const STEP_MISSES = 3;
  const STEP_TYPES = { start: "start step", step: "step", completion: "completes the goal" };

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
      results.append(sampleList(preview.samples, true));
    }
    if (preview.closest_misses.length) {
      results.append(element("h3", "Closest misses"));
      results.append(missList(preview.closest_misses));
    }
  };

  // How a sample's base value would be found (SPEC §11), in words: nothing is silent.
  const baseSource = (sample) => {
    switch (sample.base_value_source) {
      case "rate":
        return `, at ${sample.fx_rate} ${sample.currency} per ${sample.base_currency}, the rate of ${sample.fx_date}`;
      case "event":
        return ", sent with the event";
      case "display_fallback":
        return `: no exchange rate for that date, the ${sample.currency} amount taken as it is`;
      default:
        return "";
    }
  };

  // A sample: when, and (`valued`: a single event, or a step that completes the goal) its worth.
  const sampleList = (samples, valued) => {
    const list = element("ul", null, "try-list samples");
    for (const sample of samples) {
      const item = element("li");
      item.append(element("span", sample.local_time, "when"));
      if (!valued) {
        // a step that does not complete the goal records no outcome: no value to show
      } else if (sample.value !== null) {
        item.append(element("span", `${sample.value} ${sample.currency}`, "amount"));
        if (sample.base_value !== sample.value || sample.base_currency !== sample.currency) {
          item.append(` (base ${sample.base_value} ${sample.base_currency}${baseSource(sample)})`);
        }
      } else if (sample.value_error) {
        item.append(element("span", `No value: ${sample.value_error}`, "value-error"));
      } else {
        item.append(element("span", "Counted, without a value", "muted"));
      }
      item.append(propertiesOf(sample.event));
      list.append(item);
    }
    return list;
  };

  const missList = (misses) => {
    const list = element("ul", null, "try-list misses");
    for (const miss of misses) {
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
    return list;
  };

  // A multi-step goal: each step, tried alone, in the form's order.
  const showSteps = (preview, rangeText) => {
    const days = rangeText.replace("d", "");
    results.replaceChildren();
    const steps = element("ol", null, "try-steps");
    preview.steps.forEach((step, index) => {
      const item = element("li", null, step.retired ? "try-step retired" : "try-step");
      const title = element("h3");
      title.append(`Step ${index + 1} · `, element("span", step.name, "step-name"), " ", element("code", step.key));
      item.append(title, element("p", step.retired ? `${STEP_TYPES[step.type]} · retired` : STEP_TYPES[step.type], "step-type muted small"));
      steps.append(item);
      if (step.retired) {
        item.append(element("p", "Retired: it matches nothing new, so it was not tried.", "muted"));
        return;
      }
      const headline = element("p", null, "headline");
      headline.append(element("strong", String(step.matched)), ` of ${step.scanned} “${step.trigger_event}” events matched.`);
      item.append(headline);
      if (step.truncated) {
        item.append(element("p", `Only the newest ${step.scanned} events were examined.`, "muted small"));
      }
      if (step.scanned === 0) {
        item.append(element("p", `No “${step.trigger_event}” events were stored in the last ${days} days. Event names are case-sensitive.`, "muted"));
        if (step.similar_names.length) {
          item.append(element("p", `Names that differ only in case: ${step.similar_names.join(", ")}.`));
        }
      }
      const samples = step.samples.slice(0, STEP_SAMPLES);
      if (samples.length) {
        const worth = step.type === "completion" ? ", with the goal's value" : "";
        item.append(element("h4", `Sample matches (newest ${samples.length}${worth})`));
        item.append(sampleList(samples, step.type === "completion"));
      }
      const misses = step.closest_misses.slice(0, STEP_MISSES);
      if (misses.length) {
        item.append(element("h4", "Closest misses"));
        item.append(missList(misses));
      }
    });
    results.append(steps);
  };

  // Problems of the unsaved steps, also shown next to the editor's control they name (the service
  // says which: `input`), until the next run.
  const inlineErrors = [];
  // The errors of a failed save describe the form as it was sent: once it is tried again, Try it's own
  // answer replaces them.
  const clearSavedErrors = () => {
    const summary = document.getElementById("error-summary");
    if (summary) summary.remove();
    for (const note of form.querySelectorAll("p.error:not(.try-inline-error)")) {
      for (const control of form.querySelectorAll("[aria-describedby]")) {
        const ids = control.getAttribute("aria-describedby").split(/\s+/).filter((id) => id && id !== note.id);
        if (ids.length) control.setAttribute("aria-describedby", ids.join(" "));
        else control.removeAttribute("aria-describedby");
        if (control.getAttribute("aria-invalid") === "true" && !control.closest(".try-has-error")) {
          control.removeAttribute("aria-invalid");
        }
      }
      note.remove();
    }
    for (const field of form.querySelectorAll(".has-error")) field.classList.remove("has-error");
  };

  const clearInlineErrors = () => {
    for (const shown of inlineErrors.splice(0)) {
      shown.note.remove();
      for (const [name, value] of Object.entries(shown.attributes)) {
        if (value === null) shown.control.removeAttribute(name);
        else shown.control.setAttribute(name, value);
      }
      if (shown.field) shown.field.classList.remove("try-has-error");
    }
  };
  const showInlineError = (id, message) => {
    const control = document.getElementById(id);
    if (!control || !form.contains(control) || inlineErrors.some((shown) => shown.control === control)) return;
    const note = element("p", message, "error try-inline-error");
    note.id = `${id}-try-error`;
    const field = control.closest(".field");
    const attributes = { "aria-describedby": control.getAttribute("aria-describedby") };
    if (field) {
      field.append(note);
      field.classList.add("try-has-error");
      attributes["aria-invalid"] = control.getAttribute("aria-invalid");
      control.setAttribute("aria-invalid", "true");
    } else if (rows && control.contains(rows)) {
      rows.before(note); // a problem of the steps as a whole, at the top of the editor
    } else {
      return;
    }
    const described = [attributes["aria-describedby"], note.id].filter(Boolean).join(" ");
    control.setAttribute("aria-describedby", described);
    inlineErrors.push({ control, field, note, attributes });
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
        const field = typeof detail.input === "string" ? detail.input : detail.field.split(".")[0];
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
        if (typeof detail.input === "string") showInlineError(detail.input, detail.inline || detail.message);
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
    body.shape = chosenShape(); // the edit page has no choice: the goal's own type
    const rangeText = rangeSelect.value;
    clearSavedErrors();
    clearInlineErrors();
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
      if (response.ok && payload && payload.steps && payload.steps.length) showSteps(payload, rangeText);
      else if (response.ok && payload) showPreview(payload, rangeText);
      else showError(payload, response.status);
    } catch {
      showError(null, 0);
    } finally {
      button.disabled = false;
      results.removeAttribute("aria-busy");
    }
  });
})();
