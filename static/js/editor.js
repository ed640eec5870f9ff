// The evaluation editor (form[data-editor]): an "Unsaved changes" marker, a warning before leaving with
// unsaved changes (reload, closing the tab, any link or other form, htmx-boosted ones too). Without this
// file the editor works, unguarded.
(function () {
  "use strict";

  var MESSAGE = "You have unsaved changes to this evaluation. Leave without saving them?";
  var form = null;
  var initial = "";
  // Set while the editor's own submit or a "discard" link (Cancel, Take their version) is under way.
  var leaving = false;

  function snapshot(element) {
    return new URLSearchParams(new FormData(element)).toString();
  }

  function changed() {
    if (!form || !document.body.contains(form)) return false;
    return form.hasAttribute("data-changed") || snapshot(form) !== initial;
  }

  function refresh() {
    var marker = form && form.querySelector("[data-unsaved-marker]");
    if (marker) marker.hidden = !changed();
  }

  // A fresh page, or the form swapped in by htmx after an editor button or a failed save.
  function init() {
    var found = document.querySelector("form[data-editor]");
    if (!found || found === form) return;
    form = found;
    initial = snapshot(form);
    leaving = false;
    refresh();
  }

  function mayLeave() {
    if (leaving || !changed()) return true;
    if (!window.confirm(MESSAGE)) return false;
    leaving = true;  // asked once: the page's own beforeunload must not ask again
    return true;
  }

  document.addEventListener("DOMContentLoaded", init);
  document.addEventListener("htmx:afterSettle", init);
  document.addEventListener("input", function (event) {
    if (form && form.contains(event.target)) refresh();
  });
  document.addEventListener("change", function (event) {
    if (form && form.contains(event.target)) refresh();
  });

  // Capture phase: before htmx (or the browser) acts on a link or another form.
  document.addEventListener("click", function (event) {
    var link = event.target.closest && event.target.closest("a[href]");
    if (!link || event.defaultPrevented || event.button !== 0) return;
    if (event.ctrlKey || event.metaKey || event.shiftKey || event.altKey || link.target === "_blank") return;
    if (link.getAttribute("href").charAt(0) === "#") return;
    if (link.hasAttribute("data-discard-changes")) { leaving = true; return; }
    if (!mayLeave()) {
      event.preventDefault();
      event.stopImmediatePropagation();
    }
  }, true);
  document.addEventListener("submit", function (event) {
    if (event.target === form) { leaving = true; return; }
    if (!mayLeave()) {
      event.preventDefault();
      event.stopImmediatePropagation();
      // A select that submits on change (the project switcher) goes back to what the page is showing.
      event.target.querySelectorAll("select[data-autosubmit]").forEach(function (select) {
        Array.prototype.forEach.call(select.options, function (option) { option.selected = option.defaultSelected; });
      });
    }
  }, true);
  // A failed request leaves the person on the page, with their changes.
  document.addEventListener("htmx:responseError", function () { leaving = false; });
  document.addEventListener("htmx:sendError", function () { leaving = false; });

  window.addEventListener("beforeunload", function (event) {
    if (leaving || !changed()) return;
    event.preventDefault();
    event.returnValue = "";  // older Chromium needs a value to show its dialog
  });
})();
