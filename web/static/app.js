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
