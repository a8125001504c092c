// Long work shows progress: every element with data-poll="<JSON URL>" is refreshed from
// that URL every second, its text set to the state, until the JSON says {"done": true};
// then the page's content is fetched again and swapped in, so the result appears without
// a reload. The server renders (and escapes) every piece of HTML; this script only moves it.
"use strict";
(function () {
  var INTERVAL = 1000;

  function describe(data) {
    if (data.status === "running" || data.status === "never") return data.status;
    var text = data.status || "";
    if (data.job && data.job.status && !data.done) text += " (job " + data.job.status + ")";
    if (data.verdict) text += ": " + data.verdict.replace("_", " ").toLowerCase();
    return text;
  }

  function refreshMain() {
    return fetch(window.location.href, { credentials: "same-origin" })
      .then(function (r) { return r.text(); })
      .then(function (html) {
        var doc = new DOMParser().parseFromString(html, "text/html");
        var fresh = doc.getElementById("main");
        var main = document.getElementById("main");
        if (fresh && main) {
          main.replaceChildren.apply(main, Array.prototype.slice.call(fresh.childNodes)
            .map(function (n) { return document.importNode(n, true); }));
          start();
        }
      });
  }

  function poll(el) {
    var url = el.getAttribute("data-poll");
    el.removeAttribute("data-poll");
    function tick() {
      if (!el.isConnected) return;  // the content was swapped: its own pollers took over
      fetch(url, { credentials: "same-origin", headers: { Accept: "application/json" } })
        .then(function (r) { if (!r.ok) throw new Error(r.status); return r.json(); })
        .then(function (data) {
          el.textContent = describe(data);
          if (data.done) { el.classList.add("done"); refreshMain(); }
          else window.setTimeout(tick, INTERVAL);
        })
        .catch(function () { window.setTimeout(tick, INTERVAL * 5); });
    }
    window.setTimeout(tick, INTERVAL);
  }

  function start() {
    Array.prototype.forEach.call(document.querySelectorAll("[data-poll]"), poll);
  }

  function showErrors() {
    // a refused upload or window change is re-shown far down a long page: bring its
    // message into view
    var error = document.getElementById("upload-error") ||
      document.getElementById("window-error");
    if (error) { error.setAttribute("tabindex", "-1"); error.focus(); }
  }

  function ready() { showErrors(); start(); }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", ready);
  else ready();
})();
