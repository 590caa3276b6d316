// vigil status page: keeps relative times ticking and refreshes the page in place.
// Everything works without it (a <noscript> meta refresh reloads the page instead).
(function () {
  "use strict";
  var root = document.documentElement;
  var errors = 0;
  window.addEventListener("error", function () {
    errors += 1;
    root.setAttribute("data-js-errors", String(errors));
  });

  // The same wording as the server: "4s ago", "in 3m 12s", "just now".
  function compact(s) {
    var d = Math.floor(s / 86400), h = Math.floor(s / 3600) % 24,
        m = Math.floor(s / 60) % 60, x = s % 60;
    if (d > 0) return h ? d + "d " + h + "h" : d + "d";
    if (h > 0) return m ? h + "h " + m + "m" : h + "h";
    if (m > 0) return x ? m + "m " + x + "s" : m + "m";
    return x + "s";
  }
  function relative(t, now) {
    var secs = Math.trunc((now - t) / 1000);
    if (secs === 0) return now >= t ? "just now" : "now";
    return secs > 0 ? compact(secs) + " ago" : "in " + compact(-secs);
  }
  function tick() {
    var now = Date.now();
    var els = document.querySelectorAll("time[data-rel]");
    for (var i = 0; i < els.length; i++) {
      var t = Date.parse(els[i].getAttribute("datetime"));
      if (isNaN(t)) continue;
      var next = els[i].getAttribute("data-rel") === "next";
      els[i].textContent = next && t <= now ? "due" : relative(t, now);
    }
  }

  var live = null;
  var lastOk = Date.now();
  function status(kind, text) {
    live = document.getElementById("live");
    if (!live) return;
    live.className = "live " + kind;
    live.textContent = text;
  }

  var period = Number(root.getAttribute("data-refresh")) || 0;
  var busy = false;
  var refreshed = 0;
  function refresh() {
    if (busy || document.hidden) return;
    // Do not pull the text out from under someone selecting a log line.
    var sel = window.getSelection && window.getSelection();
    if (sel && String(sel).length > 0) return;
    busy = true;
    fetch(window.location.href, { cache: "no-store", headers: { Accept: "text/html" } })
      .then(function (r) {
        if (!r.ok && r.status !== 404) throw new Error("HTTP " + r.status);
        return r.text();
      })
      .then(function (text) {
        var doc = new DOMParser().parseFromString(text, "text/html");
        var fresh = doc.getElementById("page");
        var current = document.getElementById("page");
        if (fresh && current) {
          current.replaceWith(document.importNode(fresh, true));
          document.title = doc.title;
        }
        lastOk = Date.now();
        refreshed += 1;
        root.setAttribute("data-refreshed", String(refreshed));
        status("on", "live");
        wire();
        tick();
      })
      .catch(function () {
        status("stale", "vigil unreachable · data from " + relative(lastOk, Date.now()));
      })
      .then(function () { busy = false; });
  }

  // The "Run now" button says it is working while the run takes place.
  function wire() {
    var forms = document.querySelectorAll("form.run-now");
    for (var i = 0; i < forms.length; i++) {
      forms[i].addEventListener("submit", function (e) {
        var b = e.target.querySelector("button");
        if (b) { b.disabled = true; b.textContent = "Running…"; }
      });
    }
  }

  document.addEventListener("visibilitychange", function () {
    if (document.hidden) status("paused", "paused");
    else refresh();
  });

  wire();
  tick();
  setInterval(tick, 1000);
  if (period > 0) {
    status("on", "live");
    setInterval(refresh, period * 1000);
  }
  // Proof for the browser test that the stylesheet applied and this script ran through.
  var css = window.getComputedStyle(root).getPropertyValue("--panel").trim();
  root.setAttribute("data-css", css ? "loaded" : "missing");
  root.setAttribute("data-js", "ready");
})();
