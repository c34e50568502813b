// Behaviour every admin page shares. The pages work without it; it only asks before what is hard to
// undo: a form with `data-confirm` is sent only once the user agrees to its message.
"use strict";

document.addEventListener("submit", (event) => {
  const form = event.target;
  if (!(form instanceof HTMLFormElement) || !form.dataset.confirm) return;
  if (!window.confirm(form.dataset.confirm)) event.preventDefault();
});
