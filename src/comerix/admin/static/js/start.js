// Get started: asks the server every few seconds whether an event has arrived; once one has, says which
// and when, and links to the goal form made from it. Server data goes in as text, never as HTML.
"use strict";

(() => {
  const status = document.getElementById("first-event-status");
  const next = document.getElementById("first-event-next");
  const block = document.getElementById("start-data");
  if (!status || !next || !block) return;
  const settings = JSON.parse(block.textContent);

  const check = async () => {
    let payload = null;
    try {
      const response = await fetch(settings.status_url, {
        credentials: "same-origin",
        headers: { Accept: "application/json" },
      });
      if (response.ok) payload = await response.json();
    } catch {
      payload = null; // the service could not be reached: try again
    }
    if (!payload || !payload.event) {
      window.setTimeout(check, 3000);
      return;
    }
    const event = payload.event;
    status.textContent = `Your first event arrived: ${event.name}, at ${event.local_time}.`;
    next.replaceChildren();
    if (event.goal_path) {
      const link = document.createElement("a");
      link.href = event.goal_path;
      link.className = "button primary";
      link.textContent = "Create a goal from this event";
      next.append(link);
    } else {
      const link = document.createElement("a");
      link.href = "/admin/insights/events";
      link.textContent = "See it in the Event Explorer";
      next.append(link);
    }
    next.hidden = false;
  };
  check();
})();
