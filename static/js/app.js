// Small progressive enhancements; every page works without them.
(function () {
  "use strict";

  // Copy buttons: <button data-copy="#selector">.
  function copyText(text) {
    if (navigator.clipboard && window.isSecureContext) {
      return navigator.clipboard.writeText(text);
    }
    const area = document.createElement("textarea");
    area.value = text;
    area.setAttribute("readonly", "");
    area.style.position = "fixed";
    area.style.opacity = "0";
    document.body.appendChild(area);
    area.select();
    try { document.execCommand("copy"); } finally { area.remove(); }
    return Promise.resolve();
  }

  document.addEventListener("click", function (event) {
    const button = event.target.closest("[data-copy]");
    if (!button) return;
    const source = document.querySelector(button.dataset.copy);
    if (!source) return;
    copyText(source.textContent.trim()).then(function () {
      const label = button.textContent;
      button.textContent = "Copied";
      setTimeout(function () { button.textContent = label; }, 1500);
    });
  });

  // Forms that ask before a destructive action: <form data-confirm="…">.
  document.addEventListener("submit", function (event) {
    const form = event.target;
    if (form.dataset && form.dataset.confirm && !window.confirm(form.dataset.confirm)) {
      event.preventDefault();
      event.stopImmediatePropagation();
    }
  }, true);

  // Create queue: switch the pre-filled configuration when the resource changes, unless it was edited.
  document.addEventListener("DOMContentLoaded", function () {
    const defaults = document.getElementById("default-configs");
    const resource = document.getElementById("id_resource");
    const config = document.getElementById("id_config");
    if (!defaults || !resource || !config) return;
    const bodies = JSON.parse(defaults.textContent);
    let previous = resource.value;
    resource.addEventListener("change", function () {
      const current = config.value.trim();
      if (current === "" || current === (bodies[previous] || "").trim()) {
        config.value = bodies[resource.value] || "{}\n";
      }
      previous = resource.value;
    });
  });
})();

// Create job, Code tab: Django keeps only each uploaded file's base name, so the folder's relative
// paths travel in a hidden field, in file order.
document.addEventListener("change", function (event) {
  const input = event.target;
  if (!(input instanceof HTMLInputElement) || !input.hasAttribute("webkitdirectory")) return;
  const paths = document.getElementById("id_paths");
  const files = Array.from(input.files || []);
  if (paths) paths.value = JSON.stringify(files.map(function (f) { return f.webkitRelativePath || f.name; }));
  const summary = document.getElementById("folder-summary");
  if (summary) {
    const top = files.length && files[0].webkitRelativePath ? files[0].webkitRelativePath.split("/")[0] : "";
    summary.textContent = files.length ? files.length + " file" + (files.length === 1 ? "" : "s") +
      (top ? " from " + top : "") + " selected." : "";
  }
});

// Git credentials: show the secret field of the chosen kind only.
document.addEventListener("DOMContentLoaded", function () {
  const kind = document.getElementById("id_kind");
  const groups = document.querySelectorAll("[data-kind]");
  if (!kind || !groups.length) return;
  function show() {
    groups.forEach(function (group) { group.hidden = group.dataset.kind !== kind.value; });
  }
  kind.addEventListener("change", show);
  show();
});

// htmx behaviour that used to be inline attribute code (hx-on, trigger filters). The Content-Security-Policy
// allows no eval, so it lives here, keyed by data attributes.
document.addEventListener("htmx:beforeRequest", function (event) {
  const elt = event.detail.elt;
  // Polling sections (hx-trigger="every Ns" data-poll-while-visible): skip while the tab or the section is hidden.
  if (elt.hasAttribute("data-poll-while-visible") && (document.visibilityState !== "visible" || elt.hidden)) {
    event.preventDefault();
    return;
  }
  // A queue's expander (web/launch.html): a second click closes the row instead of reloading it.
  if (elt.hasAttribute("data-expander") && elt.getAttribute("aria-expanded") === "true") {
    event.preventDefault();
    elt.setAttribute("aria-expanded", "false");
    const row = document.getElementById(elt.getAttribute("aria-controls"));
    if (row) row.hidden = true;
  }
});

// A poll answered after its section was hidden (a closed expander row) must not show it again.
document.addEventListener("htmx:beforeSwap", function (event) {
  const elt = event.detail.elt;
  if (elt.hasAttribute("data-poll-while-visible") && elt.hidden) event.detail.shouldSwap = false;
});

document.addEventListener("htmx:afterRequest", function (event) {
  const elt = event.detail.elt;
  if (!event.detail.successful) return;
  if (elt.hasAttribute("data-expander")) elt.setAttribute("aria-expanded", "true");
  // A Launch button (launch/_launch_button.html) opens the drawer it has just filled.
  const dialog = elt.dataset.opensDialog && document.getElementById(elt.dataset.opensDialog);
  if (dialog && !dialog.open) dialog.showModal();
});

// The drawer's Close button.
document.addEventListener("click", function (event) {
  const button = event.target.closest("[data-closes-dialog]");
  const dialog = button && button.closest("dialog");
  if (dialog) dialog.close();
});

// Run logs (web/run.html): open scrolled to the end (where a traceback is), and keep following new lines
// (appended by the live tail) while the reader is at the end.
(function () {
  function atEnd(box) { return box.scrollHeight - box.scrollTop - box.clientHeight < 40; }
  document.addEventListener("DOMContentLoaded", function () {
    const box = document.querySelector("[data-log-box][data-scroll-end]");
    if (!box) return;
    box.scrollTop = box.scrollHeight;
    const last = box.querySelector(".log-line:last-child");
    if (last && last.scrollIntoView) last.scrollIntoView({ block: "nearest" });
  });
  let follow = true;
  document.addEventListener("htmx:oobBeforeSwap", function (event) {
    const box = document.querySelector("[data-log-box]");
    if (box && event.detail.target && event.detail.target.id === "log-lines") follow = atEnd(box);
  });
  document.addEventListener("htmx:oobAfterSwap", function (event) {
    const box = document.querySelector("[data-log-box]");
    if (box && follow && event.detail.target && event.detail.target.id === "log-lines") box.scrollTop = box.scrollHeight;
  });
})();

// Filter forms (<form role="search">) show the state of the address after any history navigation. htmx's
// history restore puts back a snapshot of the page's HTML, and HTML keeps a control's first value, not what
// the user chose later: without this, Back shows the filtered table under an "All entities" dropdown.
(function () {
  "use strict";

  function syncFiltersFromAddress() {
    const params = new URLSearchParams(window.location.search);
    document.querySelectorAll("form[role=search]").forEach(function (form) {
      Array.from(form.elements).forEach(function (control) {
        if (!control.name || control.type === "hidden" || control.type === "submit" || control.type === "button") return;
        const wanted = params.get(control.name) || "";
        if (control instanceof HTMLSelectElement) {
          const option = Array.from(control.options).find(function (o) { return o.value === wanted; });
          control.value = option ? wanted : (control.options.length ? control.options[0].value : "");
        } else if (control.type === "checkbox" || control.type === "radio") {
          control.checked = params.getAll(control.name).indexOf(control.value) !== -1;
        } else {
          control.value = wanted;
        }
      });
    });
  }

  document.addEventListener("htmx:historyRestore", syncFiltersFromAddress);
  // htmx swaps the snapshot in on popstate too; run after it (and after the browser's own form restore).
  window.addEventListener("popstate", function () { setTimeout(syncFiltersFromAddress, 0); });
  window.addEventListener("pageshow", syncFiltersFromAddress);
})();
