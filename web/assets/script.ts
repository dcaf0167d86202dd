/**
 * The page script, served as /assets/app.js: plain JavaScript, no build step. It asks before
 * destructive posts (forms with data-confirm) and keeps a running instance's page live: it
 * subscribes to the server-sent events named by <main data-live>, recolours the graph's nodes
 * and swaps in the fragments the server rendered (and escaped).
 */
export const SCRIPT = `"use strict";
(function () {
  document.addEventListener("submit", function (e) {
    var form = e.target;
    var question = form && form.getAttribute && form.getAttribute("data-confirm");
    if (question && !window.confirm(question)) e.preventDefault();
  });

  var main = document.querySelector("main[data-live]");
  if (!main || !window.EventSource) return;
  var badge = document.querySelector(".live");
  var source = new EventSource(main.getAttribute("data-live"));
  var updates = 0;

  function apply(update) {
    updates += 1;
    var nodes = update.nodes || {};
    document.querySelectorAll("svg.graph g[data-gnode][data-state]").forEach(function (g) {
      var n = nodes[g.getAttribute("data-gnode")];
      g.setAttribute("data-state", n ? n.state : "pending");
      var count = g.querySelector("text.count");
      if (count) count.textContent = n ? n.count : "";
    });
    var fragments = update.fragments || {};
    Object.keys(fragments).forEach(function (id) {
      var el = document.getElementById(id);
      if (el) el.innerHTML = fragments[id];
    });
    main.setAttribute("data-status", update.status);
    main.setAttribute("data-updates", String(updates));
    if (update.finished) {
      source.close();
      if (badge) { badge.textContent = "finished"; badge.classList.add("off"); }
    }
  }

  source.addEventListener("update", function (e) {
    try { apply(JSON.parse(e.data)); } catch (err) { console.error("waymark: bad live update", err); }
  });
  source.addEventListener("error", function () {
    if (badge && source.readyState === EventSource.CLOSED) { badge.textContent = "offline"; badge.classList.add("off"); }
  });
})();
`;
