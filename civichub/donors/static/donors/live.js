// The request board's live part: on each `changed` event of the page's stream, the page is
// fetched again and its live part swapped in, so what it shows is exactly what a reload shows
// (the server renders it once, for both). Events are coalesced: one fetch at a time.
(function () {
  "use strict";
  var region = document.querySelector("[data-live-stream]");
  if (!region || !window.EventSource || !window.fetch || !window.DOMParser) {
    return;
  }
  var busy = false;
  var again = false;

  function swap(html) {
    var fresh = new DOMParser().parseFromString(html, "text/html").querySelector("[data-live-stream]");
    if (!fresh) {
      return;
    }
    var focused = document.activeElement;
    var key = focused && region.contains(focused) && focused.name ?
      [focused.form ? focused.form.getAttribute("action") : "", focused.name, focused.value] : null;
    region.innerHTML = fresh.innerHTML;
    region.setAttribute("data-live-updated", String(Date.now()));
    if (key) {
      var same = Array.prototype.find.call(region.querySelectorAll("[name]"), function (el) {
        return el.name === key[1] && el.value === key[2] &&
          (el.form ? el.form.getAttribute("action") : "") === key[0];
      });
      if (same) {
        same.focus();
      }
    }
  }

  function refresh() {
    if (busy) {
      again = true;
      return;
    }
    busy = true;
    fetch(window.location.href, { credentials: "same-origin" })
      .then(function (response) { return response.ok ? response.text() : null; })
      .then(function (html) { if (html) { swap(html); } })
      .catch(function () { /* the next event or a reload shows the change */ })
      .then(function () {
        busy = false;
        if (again) {
          again = false;
          refresh();
        }
      });
  }

  var source = new EventSource(region.getAttribute("data-live-stream"));
  source.addEventListener("changed", refresh);
  // A reconnect may have missed events: show the current state.
  source.addEventListener("open", refresh);
})();
