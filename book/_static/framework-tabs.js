// Framework tabs for the executable textbook.
//
// A chapter writes a step twice, as adjacent code cells tagged `pytorch` and
// `keras`. MyST-NB gives each cell the class `tag_<tag>`; this script groups
// each run of adjacent tagged cells into a "PyTorch | Keras" tab set. Choosing
// a tab switches every set on the page and is remembered (localStorage) on
// every page and after a reload.
(function () {
  "use strict";
  var KEY = "nn-executable-framework";
  var FRAMEWORKS = [["pytorch", "PyTorch"], ["keras", "Keras"]];

  function frameworkOf(el) {
    if (!el || !el.classList || !el.classList.contains("cell")) return null;
    for (var i = 0; i < FRAMEWORKS.length; i++) {
      if (el.classList.contains("tag_" + FRAMEWORKS[i][0])) return FRAMEWORKS[i][0];
    }
    return null;
  }

  function remembered() {
    try { return window.localStorage.getItem(KEY); } catch (e) { return null; }
  }

  function remember(framework) {
    try { window.localStorage.setItem(KEY, framework); } catch (e) { /* private mode */ }
  }

  function select(framework) {
    document.querySelectorAll(".fw-tabset").forEach(function (set) {
      set.querySelectorAll(".fw-tab").forEach(function (button) {
        var on = button.dataset.framework === framework;
        button.classList.toggle("active", on);
        button.setAttribute("aria-selected", on ? "true" : "false");
      });
      set.querySelectorAll(".fw-panel").forEach(function (panel) {
        panel.hidden = panel.dataset.framework !== framework;
      });
    });
    document.documentElement.dataset.framework = framework;
  }

  function onClick(event) {
    var button = event.currentTarget;
    var set = button.closest(".fw-tabset");
    var before = set.getBoundingClientRect().top;
    remember(button.dataset.framework);
    select(button.dataset.framework);
    // Keep the clicked tab set still while the panels above it change height.
    window.scrollBy(0, set.getBoundingClientRect().top - before);
  }

  function build() {
    var grouped = new Set();
    document.querySelectorAll("div.cell").forEach(function (first) {
      if (grouped.has(first) || !frameworkOf(first)) return;
      var run = [];
      for (var el = first; frameworkOf(el); el = el.nextElementSibling) {
        run.push(el);
        grouped.add(el);
      }
      var kinds = new Set(run.map(frameworkOf));
      if (kinds.size < 2) return; // a cell with no twin stays as it is

      var set = document.createElement("div");
      set.className = "fw-tabset";
      var bar = document.createElement("div");
      bar.className = "fw-tabbar";
      bar.setAttribute("role", "tablist");
      set.appendChild(bar);
      first.parentNode.insertBefore(set, first);

      FRAMEWORKS.forEach(function (fw) {
        var members = run.filter(function (c) { return frameworkOf(c) === fw[0]; });
        if (!members.length) return;
        var button = document.createElement("button");
        button.type = "button";
        button.className = "fw-tab";
        button.dataset.framework = fw[0];
        button.setAttribute("role", "tab");
        button.textContent = fw[1];
        button.addEventListener("click", onClick);
        bar.appendChild(button);
        var panel = document.createElement("div");
        panel.className = "fw-panel";
        panel.dataset.framework = fw[0];
        panel.setAttribute("role", "tabpanel");
        members.forEach(function (m) { panel.appendChild(m); });
        set.appendChild(panel);
      });
    });
    select(remembered() || "pytorch");
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", build);
  } else {
    build();
  }
  // Another open tab of the book changed the choice: follow it.
  window.addEventListener("storage", function (event) {
    if (event.key === KEY && event.newValue) select(event.newValue);
  });
})();
