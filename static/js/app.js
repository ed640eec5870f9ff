// Small progressive enhancements; every page works without this file.
(function () {
  "use strict";

  // Bulk actions: confirm naming how many rows, and keep the "N selected" count current.
  function selectedCount(form) {
    return document.querySelectorAll('input[data-row-select][form="' + form.id + '"]:checked').length;
  }
  function refreshCount() {
    document.querySelectorAll("form[data-bulk]").forEach(function (form) {
      var n = selectedCount(form);
      var label = form.querySelector("[data-selected-count]");
      if (label) label.textContent = n + " selected";
      form.querySelectorAll("button[data-confirm-verb]").forEach(function (b) { b.disabled = n === 0; });
    });
  }
  document.addEventListener("change", function (event) {
    var target = event.target;
    if (target.matches("[data-select-all]")) {
      var table = target.closest("table");
      table.querySelectorAll("input[data-row-select]").forEach(function (box) { box.checked = target.checked; });
    }
    if (target.matches("[data-select-all], [data-row-select]")) refreshCount();
    if (target.matches("select[data-autosubmit]")) target.form.requestSubmit();
  });
  document.addEventListener("htmx:confirm", function (event) {
    var form = event.detail.elt;
    if (!form.matches || !form.matches("form[data-bulk]")) return;
    var submitter = event.detail.triggeringEvent && event.detail.triggeringEvent.submitter;
    var verb = (submitter && submitter.dataset.confirmVerb) || "Apply to";
    var n = selectedCount(form);
    event.preventDefault();
    if (window.confirm(verb + " " + n + " evaluation" + (n === 1 ? "" : "s") + "?")) {
      event.detail.issueRequest(true);
    }
  });
  document.addEventListener("htmx:afterSettle", refreshCount);
  document.addEventListener("DOMContentLoaded", refreshCount);

  // Copy buttons for values shown once (new API keys).
  document.addEventListener("click", function (event) {
    var button = event.target.closest("[data-copy-target]");
    if (!button) return;
    var source = document.querySelector(button.dataset.copyTarget);
    var status = document.querySelector("[data-copy-status]");
    source.select();
    var done = function () { if (status) status.textContent = "Copied to the clipboard."; };
    if (navigator.clipboard && window.isSecureContext) {
      navigator.clipboard.writeText(source.value).then(done, function () { document.execCommand("copy"); done(); });
    } else {
      document.execCommand("copy");
      done();
    }
  });
})();
