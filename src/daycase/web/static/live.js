// Live updates for pages: listen on the stream (the session cookie signs it) and, when a
// case of this page's day changes, re-fetch this page's live region with htmx. A region
// with a form being filled in is never swapped under the user's hands: a notice offers
// the refresh instead. That is checked again when the fresh region arrives, because the
// user may have opened a form while it was on its way.
(function () {
  "use strict";
  const region = document.querySelector("[data-live-refresh]");
  if (!region || !window.EventSource) { return; }
  const streamUrl = region.getAttribute("data-live-stream");
  const refreshUrl = region.getAttribute("data-live-refresh");
  const day = region.getAttribute("data-live-date");
  const caseId = region.getAttribute("data-live-case");
  let timer = null;
  let forced = false;
  let kept = null;

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
    button.addEventListener("click", function () { bar.remove(); swap(true); });
    bar.appendChild(button);
    region.parentNode.insertBefore(bar, region);
  }

  function swap(force) {
    forced = Boolean(force);
    // Marked as the page's own refresh, which is not use of the sign-in (the idle timeout).
    htmx.ajax("GET", refreshUrl, {
      source: region, target: region, swap: "innerHTML", headers: { "X-Daycase-Live": "1" }
    });
  }

  function refresh() {
    window.clearTimeout(timer);
    timer = window.setTimeout(function () { if (busy()) { notice(); } else { swap(false); } }, 150);
  }

  // Only the live refresh targets the region itself; forms inside it target their parts.
  region.addEventListener("htmx:beforeSwap", function (event) {
    if (event.target !== region) { return; }
    if (busy() && !forced) {
      event.detail.shouldSwap = false;
      notice();
      return;
    }
    forced = false;
    // A "recorded" confirmation outlives the refresh its own write set off.
    kept = region.querySelector("#saved-notice");
  });

  region.addEventListener("htmx:afterSwap", function (event) {
    const bar = document.getElementById("live-notice");
    if (bar) { bar.remove(); }  // whatever was swapped in is fresh
    if (event.target === region && kept && !region.querySelector("#saved-notice")) {
      const head = region.querySelector(".case-head");
      if (head) { head.after(kept); }
    }
    kept = null;
  });

  // A board longer than one screen turns its pages on a timer, stream or no stream.
  const every = Number(region.getAttribute("data-live-every"));
  if (every > 0) { window.setInterval(refresh, every * 1000); }

  if (streamUrl) {
    const source = new EventSource(streamUrl);
    source.addEventListener("open", function () { region.setAttribute("data-live-open", ""); });
    source.addEventListener("error", function () { region.removeAttribute("data-live-open"); });
    source.addEventListener("case", function (event) {
      let message = null;
      try { message = JSON.parse(event.data); } catch (e) { return; }
      // A case of another day matters only if it is shown here: it was moved away.
      const id = message.row && message.row.case_id;
      const shown = id && region.querySelector('[data-case="' + CSS.escape(String(id)) + '"]');
      if (day && message.date !== day && !shown) { return; }
      if (caseId && message.row && message.row.case_id !== caseId) { return; }
      refresh();
    });
  } else {
    window.setInterval(refresh, 15000);
  }
})();
