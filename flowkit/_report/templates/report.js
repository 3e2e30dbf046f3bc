"use strict";
(function () {
  function openTask(hash) {
    if (!hash || hash.length < 2) return;
    var target = document.getElementById(decodeURIComponent(hash.slice(1)));
    if (!target || target.tagName !== "DETAILS") return;
    target.open = true;
    document.querySelectorAll("details.task.focus").forEach(function (d) { d.classList.remove("focus"); });
    target.classList.add("focus");
    target.scrollIntoView({ block: "start" });
  }
  function sortable(table) {
    table.querySelectorAll("th[data-sort]").forEach(function (header) {
      header.addEventListener("click", function () {
        var body = table.tBodies[0];
        var index = Array.prototype.indexOf.call(header.parentNode.children, header);
        var descending = header.dataset.order !== "desc";
        table.querySelectorAll("th[data-sort]").forEach(function (h) { delete h.dataset.order; });
        header.dataset.order = descending ? "desc" : "asc";
        var numeric = header.dataset.sort === "number";
        var rows = Array.prototype.slice.call(body.rows);
        rows.sort(function (a, b) {
          var x = a.cells[index].dataset.value || a.cells[index].textContent;
          var y = b.cells[index].dataset.value || b.cells[index].textContent;
          var order = numeric ? (parseFloat(x) || 0) - (parseFloat(y) || 0) : x.localeCompare(y);
          return descending ? -order : order;
        });
        rows.forEach(function (row) { body.appendChild(row); });
      });
    });
  }
  function wire(root) {
    root.querySelectorAll("table.tasks").forEach(sortable);
    root.querySelectorAll('a[href^="#task-"]').forEach(function (link) {
      link.addEventListener("click", function () { openTask(link.getAttribute("href")); });
    });
    var toggle = root.querySelector("#dag-size");
    var dag = root.querySelector("#dag");
    if (toggle && dag) {
      toggle.addEventListener("click", function () {
        dag.classList.toggle("fit");
        toggle.textContent = dag.classList.contains("fit") ? "actual size" : "fit to page";
      });
    }
  }
  function poll() {
    if (document.body.dataset.live !== "1") return;
    setTimeout(function () {
      fetch(window.location.pathname, { cache: "no-store" }).then(function (response) {
        if (!response.ok) throw new Error(String(response.status));
        return response.text();
      }).then(function (text) {
        var fresh = new DOMParser().parseFromString(text, "text/html");
        var opened = Array.prototype.map.call(document.querySelectorAll("details.task[open]"), function (d) { return d.id; });
        ["header.top", "main"].forEach(function (selector) {
          var old = document.querySelector(selector);
          var next = fresh.querySelector(selector);
          if (old && next) old.replaceWith(document.adoptNode(next));
        });
        opened.forEach(function (id) { var d = document.getElementById(id); if (d) d.open = true; });
        wire(document);
        document.body.dataset.live = fresh.body.dataset.live || "0";
      }).catch(function () {}).then(poll);
    }, 1000);
  }
  window.addEventListener("hashchange", function () { openTask(window.location.hash); });
  document.addEventListener("DOMContentLoaded", function () {
    wire(document);
    openTask(window.location.hash);
    poll();
  });
})();
