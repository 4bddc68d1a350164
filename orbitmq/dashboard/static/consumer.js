// Consumer list: "Auto refresh (10 s)" reloads the list every 10 s while it is checked, as
// rocketmq-dashboard's auto-refresh does; the choice is kept in localStorage, off at first.
"use strict";
(() => {
  const box = document.getElementById("auto-refresh");
  if (!box) return;
  const KEY = "orbitmq.consumer.autoRefresh";
  const PERIOD_MS = 10000;
  let timer = null;

  function typing() {
    // A reload would drop what is being typed into the search box; wait for the next tick.
    const field = document.activeElement;
    return field !== null && field.matches("input[type=text], input:not([type]), select");
  }

  function schedule() {
    window.clearTimeout(timer);
    timer = box.checked
      ? window.setTimeout(() => (typing() ? schedule() : window.location.reload()), PERIOD_MS)
      : null;
  }

  box.checked = window.localStorage.getItem(KEY) === "on";
  box.addEventListener("change", () => {
    if (box.checked) window.localStorage.setItem(KEY, "on");
    else window.localStorage.removeItem(KEY);
    schedule();
  });
  schedule();
})();
