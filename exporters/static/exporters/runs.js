// Exporter runs: while a run on the page is running, reload it every few seconds to show its progress.
(function () {
  "use strict";
  const RELOAD_MS = 3000;
  function check() {
    if (document.querySelector(".run-status-running")) {
      window.setTimeout(function () { window.location.reload(); }, RELOAD_MS);
    }
  }
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", check);
  else check();
})();
