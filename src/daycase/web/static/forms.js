// A save that fails says so. htmx leaves the page as it was when an answer is an error or
// never comes, so without this a nurse pressing Record on a busy or unreachable server
// would see nothing at all. The form keeps what was typed; pressing the button again
// retries (with the same Idempotency-Key, so a save that did go through is not doubled).
(function () {
  "use strict";

  function formOf(event) {
    const elt = event.detail && event.detail.elt;
    return elt && elt.closest ? elt.closest("form") : null;
  }

  function say(form, text) {
    let box = form.querySelector(".save-failed");
    if (!box) {
      box = document.createElement("p");
      box.className = "notice bad save-failed";
      box.setAttribute("role", "alert");
      form.prepend(box);
    }
    box.textContent = "Not saved: " + text + " What you typed is still here; press the button again to try again.";
  }

  document.addEventListener("htmx:beforeRequest", function (event) {
    const form = formOf(event);
    const box = form && form.querySelector(".save-failed");
    if (box) { box.remove(); }
  });
  document.addEventListener("htmx:responseError", function (event) {
    const form = formOf(event);
    if (!form) { return; }
    const xhr = event.detail.xhr;
    const status = xhr ? xhr.status : 0;
    if (status === 503) {
      const wait = xhr.getResponseHeader("Retry-After");
      say(form, "the record is busy" + (wait ? " (try again in " + wait + " s)." : "."));
    } else {
      say(form, "the server answered with an error (" + status + ").");
    }
  });
  document.addEventListener("htmx:sendError", function (event) {
    const form = formOf(event);
    if (form) { say(form, "the server could not be reached."); }
  });
  document.addEventListener("htmx:timeout", function (event) {
    const form = formOf(event);
    if (form) { say(form, "the server did not answer in time."); }
  });
})();

// Buttons that print the page (no inline script: the Content-Security-Policy forbids it).
document.addEventListener("click", function (event) {
  if (event.target.closest && event.target.closest("[data-print]")) { window.print(); }
});
