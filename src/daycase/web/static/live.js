// Live updates for pages: listen on the stream (the session cookie signs it) and, when a
// case of this page's day changes, re-fetch this page's live region with htmx. A region
// with a form being filled in is never swapped under the user's hands: a notice offers
// the refresh instead.
(function () {
  "use strict";
  const region = document.querySelector("[data-live-refresh]");
  if (!region || !window.EventSource) { return; }
  const streamUrl = region.getAttribute("data-live-stream");
  const refreshUrl = region.getAttribute("data-live-refresh");
  const day = region.getAttribute("data-live-date");
  const caseId = region.getAttribute("data-live-case");
  let timer = null;

  function busy() {
    const active = document.activeElement;
    return region.querySelector("details[open]") !== null ||
      (active && region.contains(active) && active.matches("input, select, textarea"));
  }

  function notice() {
    if (document.getElementById("live-notice")) { return; }
    const bar = document.createElement("p");
    bar.id = "live-notice";
    bar.className = "notice ok";
    bar.setAttribute("role", "status");
    bar.textContent = "This page changed elsewhere. ";
    const button = document.createElement("button");
    button.type = "button";
    button.className = "secondary";
    button.textContent = "Show the latest";
    button.addEventListener("click", function () { bar.remove(); swap(); });
    bar.appendChild(button);
    region.parentNode.insertBefore(bar, region);
  }

  function swap() {
    htmx.ajax("GET", refreshUrl, { target: region, swap: "innerHTML" });
  }

  function refresh() {
    window.clearTimeout(timer);
    timer = window.setTimeout(function () { if (busy()) { notice(); } else { swap(); } }, 150);
  }

  if (streamUrl) {
    const source = new EventSource(streamUrl);
    source.addEventListener("case", function (event) {
      let message = null;
      try { message = JSON.parse(event.data); } catch (e) { return; }
      if (day && message.date !== day) { return; }
      if (caseId && message.row && message.row.case_id !== caseId) { return; }
      refresh();
    });
  } else {
    window.setInterval(refresh, 15000);
  }
})();
