// Behaviour every admin page shares. The pages work without it; it asks before what is hard to undo
// (a form with `data-confirm` is sent only once the user agrees to its message), and on a narrow screen
// folds the menu behind its button.
"use strict";

(() => {
  const toggle = document.querySelector(".menu-toggle");
  const menu = document.getElementById("main-menu");
  if (!toggle || !menu) return;
  document.documentElement.classList.add("menu-folds");
  toggle.addEventListener("click", () => {
    const open = menu.classList.toggle("open");
    toggle.setAttribute("aria-expanded", String(open));
  });
})();

document.addEventListener("submit", (event) => {
  const form = event.target;
  if (!(form instanceof HTMLFormElement)) return;
  if (form.dataset.confirm && !window.confirm(form.dataset.confirm)) {
    event.preventDefault();
    return;
  }
  // A filter form (GET, `data-clean-url`) leaves its empty fields out of the address it opens.
  if (form.method === "get" && "cleanUrl" in form.dataset) {
    for (const field of form.elements) {
      if (field.name && field.value === "") field.disabled = true;
    }
  }
});

// Back to a page whose filter form was sent: its fields are usable again.
window.addEventListener("pageshow", () => {
  for (const field of document.querySelectorAll("form[data-clean-url] [disabled]")) field.disabled = false;
});
