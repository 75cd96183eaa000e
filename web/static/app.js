// wbl-scheduler: a little JavaScript on top of pages that work without it.
// Loaded with `defer` from this site only (the Content-Security-Policy allows no inline script).
"use strict";

// Forms with data-confirm="Question?" ask before they post.
document.addEventListener("submit", function (event) {
  var form = event.target;
  var question = form.getAttribute && form.getAttribute("data-confirm");
  if (question && !window.confirm(question)) {
    event.preventDefault();
  }
});

// The dashboard's progress bars: each `[data-progress-url]` block polls its run's progress
// (JSON) every two seconds and updates the bar, its text (aria-live) and facts in place;
// when the run is over the page reloads to show the result. Without script the block shows
// the state as loaded, and its "Refresh" link reloads.
(function () {
  var POLL_MS = 2000;
  function part(block, name) {
    return block.querySelector('[data-part="' + name + '"]');
  }
  function show(block, p) {
    var bar = part(block, "bar");
    if (bar) {
      bar.value = p.percent;
      bar.textContent = p.percent + "%";
    }
    var badge = block.querySelector('[data-part="status"] .badge');
    if (badge && badge.textContent !== p.status) {
      badge.textContent = p.status;
      badge.className = "badge badge-" + p.status;
    }
    var text = part(block, "text");
    if (text && text.textContent !== p.text) { text.textContent = p.text; }
    var stage = part(block, "stage");
    if (stage) { stage.textContent = p.stage || "–"; }
    var elapsed = part(block, "elapsed");
    if (elapsed) { elapsed.textContent = Math.round(p.elapsed) + " s"; }
    var bound = part(block, "bound");
    if (bound && p.bound !== null) { bound.textContent = Math.round(p.bound).toLocaleString(); }
  }
  function poll(block) {
    var url = block.getAttribute("data-progress-url");
    fetch(url, { headers: { Accept: "application/json" }, credentials: "same-origin" })
      .then(function (response) {
        if (!response.ok) { throw new Error("progress: HTTP " + response.status); }
        return response.json();
      })
      .then(function (p) {
        show(block, p);
        if (p.active) {
          window.setTimeout(function () { poll(block); }, POLL_MS);
        } else {
          block.setAttribute("data-finished", "true");
          window.location.reload();
        }
      })
      .catch(function () {
        // A missed poll (a restart, a network hiccup): try again a little later.
        window.setTimeout(function () { poll(block); }, POLL_MS * 3);
      });
  }
  document.addEventListener("DOMContentLoaded", function () {
    var blocks = document.querySelectorAll("[data-progress-url]");
    for (var i = 0; i < blocks.length; i++) {
      poll(blocks[i]);
    }
  });
})();
