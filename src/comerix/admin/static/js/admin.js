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
  if (!(form instanceof HTMLFormElement) || !form.dataset.confirm) return;
  if (!window.confirm(form.dataset.confirm)) event.preventDefault();
});
