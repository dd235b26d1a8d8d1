// Live updates for the broadcast feed and account pages (progressive enhancement: without
// JavaScript or EventSource the page simply stays as it was loaded). New posts are kept aside;
// a polite live region says how many are waiting and a button shows them, so nothing moves
// under the reader and focus stays where it is until they ask.
(function () {
  "use strict";
  var region = document.getElementById("live-feed");
  if (!region || !window.EventSource || !region.dataset.stream) {
    return;
  }
  var status = region.querySelector("[data-live-status]");
  // The button exists only where it can work, and shows only while posts are waiting.
  var button = document.createElement("button");
  button.type = "button";
  button.className = "button";
  button.textContent = region.dataset.show;
  button.style.display = "none";
  region.appendChild(button);
  var waiting = [];

  function fragment(html) {
    var template = document.createElement("template");
    template.innerHTML = html.trim();
    return template.content.firstElementChild;
  }

  function shown(id) {
    var heading = document.getElementById("post-" + id + "-h");
    return heading ? heading.closest("article") : null;
  }

  function announce() {
    var n = waiting.length;
    status.textContent =
      n === 0 ? "" : n === 1 ? region.dataset.one : region.dataset.other.replace("{n}", String(n));
    button.style.display = n === 0 ? "none" : "";
  }

  var source = new EventSource(region.dataset.stream);
  source.addEventListener("post", function (event) {
    var data = JSON.parse(event.data);
    if (shown(data.id) || waiting.some(function (w) { return w.id === data.id; })) {
      return;
    }
    waiting.push(data);
    announce();
  });
  source.addEventListener("replace", function (event) {
    var data = JSON.parse(event.data);
    var current = shown(data.id);
    if (current) {
      current.replaceWith(fragment(data.html));
    }
    waiting.forEach(function (w) {
      if (w.id === data.id) {
        w.html = data.html;
      }
    });
  });

  button.addEventListener("click", function () {
    var first = null;
    var anchor = region.nextSibling;
    // Newest first, above what was already shown.
    for (var i = waiting.length - 1; i >= 0; i--) {
      var article = fragment(waiting[i].html);
      region.parentNode.insertBefore(article, anchor);
      first = first || article;
    }
    var empty = region.parentNode.querySelector("[data-live-empty]");
    if (empty && first) {
      empty.remove();
    }
    waiting = [];
    announce();
    if (first) {
      // The reader asked for them: take them to the first new post.
      first.setAttribute("tabindex", "-1");
      first.focus();
    }
  });
})();
