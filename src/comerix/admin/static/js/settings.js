// Settings pages: the copy button of a key or token shown once, and the reload of that page.
(function () {
  "use strict";

  // The page that shows a new secret answered a POST: make a reload a plain GET of the list (the secret
  // is not shown again, and no second key is created by resubmitting the form).
  const shown = document.querySelector("[data-shown-once]");
  if (shown && window.history.replaceState) {
    window.history.replaceState(null, "", shown.getAttribute("data-shown-once"));
  }

  function say(message) {
    const status = document.getElementById("copy-status");
    if (status) {
      status.textContent = message;
    }
  }

  document.querySelectorAll("button[data-copy]").forEach(function (button) {
    button.addEventListener("click", function () {
      const field = document.getElementById(button.getAttribute("data-copy"));
      if (!field) {
        return;
      }
      field.focus();
      field.select();
      if (!navigator.clipboard) {
        say("Copying is not available here: the text is selected, press Ctrl+C (⌘C on a Mac).");
        return;
      }
      navigator.clipboard.writeText(field.value).then(
        function () {
          button.textContent = "Copied";
          say("Copied to the clipboard. Keep it somewhere safe.");
        },
        function () {
          say("The browser did not allow copying: the text is selected, press Ctrl+C (⌘C on a Mac).");
        }
      );
    });
  });
})();
