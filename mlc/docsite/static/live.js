/* `mlc docs serve` marks the pages it serves (data-live on <html>) and answers /__mlc_live with
 * the build's id; when a rebuild changes it, the page reloads. A site read from files or a
 * bucket is never marked, so this does nothing there. */
(function () {
  "use strict";
  if (document.documentElement.getAttribute("data-live") !== "1") { return; }
  var seen = null;
  function poll() {
    var req = new XMLHttpRequest();
    req.open("GET", "/__mlc_live", true);
    req.onload = function () {
      if (req.status === 200) {
        if (seen !== null && req.responseText !== seen) { window.location.reload(); return; }
        seen = req.responseText;
      }
      window.setTimeout(poll, 1000);
    };
    req.onerror = function () { window.setTimeout(poll, 2000); };
    req.send();
  }
  poll();
})();
