// Match conditions as rows (property path, type, value) over the JSON textarea they stand for. The
// textarea stays the form's field: every change of a row writes it, and a change of the JSON (typed in
// "Edit as JSON", or made by another script, which then sends an `input` event) redraws the rows. JSON
// the rows cannot show (not an object, or a value that is an object or a list) keeps the JSON view open
// and the rows away, so nothing the user wrote is lost. Without this script the textarea is all there is.
// Paths and values are only ever put in the page as input values, never as HTML.
"use strict";

(() => {
  const NUMBER = /^-?(0|[1-9]\d*)(\.\d+)?([eE][+-]?\d+)?$/; // a JSON number, written as JSON writes it
  const TYPES = [
    ["text", "Text"],
    ["number", "Number"],
    ["true", "true"],
    ["false", "false"],
    ["null", "null"],
  ];
  let editors = 0;

  // The conditions of `text` as [path, type, value] rows, or null when rows cannot show them. Numbers
  // keep the digits they were written with (1.50 stays 1.50, a long integer stays exact) where the
  // browser hands parse callbacks the source text.
  const rowsOf = (text) => {
    if (!text.trim()) return [];
    let parsed;
    const sources = new Map();
    try {
      parsed = JSON.parse(text, function (key, value, context) {
        if (typeof value === "number" && context && typeof context.source === "string") {
          sources.set(this, { ...(sources.get(this) || {}), [key]: context.source });
        }
        return value;
      });
    } catch {
      return null;
    }
    if (parsed === null || typeof parsed !== "object" || Array.isArray(parsed)) return null;
    const written = sources.get(parsed) || {};
    const rows = [];
    for (const [path, value] of Object.entries(parsed)) {
      if (typeof value === "string") rows.push([path, "text", value]);
      else if (typeof value === "number") rows.push([path, "number", Object.hasOwn(written, path) ? written[path] : String(value)]);
      else if (value === true || value === false || value === null) rows.push([path, String(value), ""]);
      else return null; // an object or a list: the server refuses it, and says so by name
    }
    return rows;
  };

  // The JSON of `rows`, one condition a line; rows without a path are left out (a row just added).
  const jsonOf = (rows) => {
    const members = rows
      .filter(([path]) => path !== "")
      .map(([path, type, value]) => {
        let written = type;
        if (type === "text") written = JSON.stringify(value);
        else if (type === "number") written = value.trim();
        return `  ${JSON.stringify(path)}: ${written}`;
      });
    return members.length ? `{\n${members.join(",\n")}\n}` : "{}";
  };

  const element = (tag, properties = {}, ...children) => {
    const made = Object.assign(document.createElement(tag), properties);
    made.append(...children);
    return made;
  };

  const attach = (textarea) => {
    if (textarea.dataset.conditionsEditor) return;
    const id = `conditions-${++editors}`;
    textarea.dataset.conditionsEditor = id;
    const field = textarea.closest(".field");
    field.classList.add("has-conditions-editor");
    const label = field.querySelector(`label[for="${textarea.id}"]`);
    const labelText = label ? label.textContent.replace(/\s+/g, " ").trim() : "Match conditions";

    const body = element("tbody");
    const table = element(
      "table",
      { className: "conditions-table" },
      element(
        "thead",
        {},
        element(
          "tr",
          {},
          element("th", { scope: "col", textContent: "Property path" }),
          element("th", { scope: "col", textContent: "Type" }),
          element("th", { scope: "col", textContent: "Value" }),
          element("th", {}, element("span", { className: "visually-hidden", textContent: "Remove" })),
        ),
      ),
      body,
    );
    const empty = element("p", {
      className: "muted small conditions-empty",
      textContent: "No conditions: every occurrence of the trigger event counts.",
    });
    const add = element("button", { type: "button", className: "button small", textContent: "Add a condition" });
    const onlyJson = element("p", {
      className: "small conditions-json-only",
      hidden: true,
      textContent: "These conditions can be edited only as JSON below (each value must be text, a number, true, false or null).",
    });
    const editor = element("div", { className: "conditions-editor", id }, table, empty, add, onlyJson);
    editor.setAttribute("role", "group");
    editor.setAttribute("aria-label", `${labelText} (rows)`);
    const details = element("details", { className: "conditions-json" }, element("summary", { textContent: "Edit as JSON" }));
    textarea.before(editor);
    textarea.before(details);
    details.append(textarea);
    if (field.classList.contains("has-error")) details.open = true; // the server's error is about this text

    const rowsNow = () =>
      [...body.rows].map((row) => [
        row.querySelector(".condition-path").value.trim(),
        row.querySelector(".condition-type").value,
        row.querySelector(".condition-value").value,
      ]);

    // Every row's own problem, shown on its field now and told when the form is sent (`guard` below: the
    // goal form has `novalidate`, for the server's own messages, so the browser would not stop it).
    const check = () => {
      const seen = new Set();
      for (const row of body.rows) {
        const path = row.querySelector(".condition-path");
        const type = row.querySelector(".condition-type").value;
        const value = row.querySelector(".condition-value");
        const name = path.value.trim();
        path.setCustomValidity(
          seen.has(name) && name !== ""
            ? `The path ${name} is in another condition already: an event has one value there.`
            : name === "" && (type !== "text" || value.value !== "")
              ? "Give the property path, for example plan or order.plan."
              : "",
        );
        seen.add(name);
        value.setCustomValidity(
          type === "number" && !NUMBER.test(value.value.trim()) ? "A number, for example 2 or 129.50." : "",
        );
      }
    };

    // Each row's controls are named by the field and the row's number, which a removal changes.
    const renumber = () => {
      [...body.rows].forEach((row, index) => {
        const named = `${labelText}: condition ${index + 1}`;
        row.querySelector(".condition-path").setAttribute("aria-label", `${named}, property path`);
        row.querySelector(".condition-type").setAttribute("aria-label", `${named}, type`);
        row.querySelector(".condition-value").setAttribute("aria-label", `${named}, value`);
        const remove = `Remove condition ${index + 1} of ${labelText}`; // not "Remove Step 2 …": the step's own
        row.querySelector(".condition-remove").setAttribute("aria-label", remove);
      });
    };

    const write = () => {
      check();
      renumber();
      textarea.value = jsonOf(rowsNow());
      empty.hidden = body.rows.length > 0;
      table.hidden = body.rows.length === 0;
    };

    const addRow = ([path, type, value]) => {
      const pathInput = element("input", {
        type: "text",
        className: "condition-path",
        value: path,
        maxLength: 255,
        autocomplete: "off",
        spellcheck: false,
        placeholder: "plan",
      });
      const typeSelect = element("select", { className: "condition-type" });
      for (const [option, text] of TYPES) typeSelect.append(element("option", { value: option, textContent: text }));
      typeSelect.value = type;
      const valueInput = element("input", {
        type: "text",
        className: "condition-value",
        value,
        maxLength: 1000,
        autocomplete: "off",
        spellcheck: false,
      });
      const remove = element("button", { type: "button", className: "button small link condition-remove", textContent: "Remove" });
      const row = element(
        "tr",
        { className: "condition-row" },
        element("td", {}, pathInput),
        element("td", {}, typeSelect),
        element("td", {}, valueInput),
        element("td", {}, remove),
      );
      const showValue = () => {
        const literal = ["true", "false", "null"].includes(typeSelect.value);
        valueInput.readOnly = literal; // not disabled: the goal type's switch enables the fields it shows
        valueInput.placeholder = literal ? typeSelect.value : typeSelect.value === "number" ? "2" : "premium";
        valueInput.inputMode = typeSelect.value === "number" ? "decimal" : "text";
        if (literal) valueInput.value = "";
      };
      showValue();
      typeSelect.addEventListener("change", () => {
        showValue();
        write();
      });
      pathInput.addEventListener("input", write);
      valueInput.addEventListener("input", write);
      remove.addEventListener("click", () => {
        const next = row.nextElementSibling || row.previousElementSibling;
        row.remove();
        write();
        (next ? next.querySelector(".condition-path") : add).focus();
      });
      body.append(row);
    };

    const draw = () => {
      const rows = rowsOf(textarea.value);
      body.replaceChildren();
      const shown = rows !== null;
      table.hidden = !shown || rows.length === 0;
      empty.hidden = !shown || rows.length > 0;
      add.hidden = !shown;
      onlyJson.hidden = shown;
      if (!shown) details.open = true;
      for (const row of rows || []) addRow(row);
      check();
      renumber();
    };

    add.addEventListener("click", () => {
      addRow(["", "text", ""]);
      write(); // shows the table, so the new row can take the focus
      body.rows[body.rows.length - 1].querySelector(".condition-path").focus();
    });
    textarea.addEventListener("input", draw);
    draw();
  };

  // A form with a condition row that cannot be written (a path twice, a value without its path, a number
  // that is none) is not sent: the first such row says why, and takes the focus.
  const guard = (event) => {
    const wrong = event.target.querySelector(".condition-row :invalid");
    if (!wrong) return;
    event.preventDefault();
    const details = wrong.closest("details");
    if (details) details.open = true;
    wrong.reportValidity();
  };
  for (const form of document.querySelectorAll("form")) {
    if (form.querySelector("textarea[data-conditions]")) form.addEventListener("submit", guard);
  }

  const attachAll = (root) => {
    for (const textarea of root.querySelectorAll("textarea[data-conditions]")) attach(textarea);
  };
  attachAll(document);
  // The steps editor adds rows of its own: each new step's conditions get rows too.
  new MutationObserver((changes) => {
    for (const change of changes) {
      for (const node of change.addedNodes) if (node.nodeType === Node.ELEMENT_NODE) attachAll(node);
    }
  }).observe(document.body, { childList: true, subtree: true });
})();
