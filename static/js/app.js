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
    var noun = form.dataset.noun || "evaluation";
    var nouns = form.dataset.nounPlural || noun + "s";
    event.preventDefault();
    if (window.confirm(verb + " " + n + " " + (n === 1 ? noun : nouns) + "?")) {
      event.detail.issueRequest(true);
    }
  });
  document.addEventListener("htmx:afterSettle", refreshCount);
  document.addEventListener("DOMContentLoaded", refreshCount);

  // htmx does not swap error responses: say what happened instead of doing nothing.
  function announce(text) {
    var region = document.getElementById("flash");
    if (!region) return;
    var box = document.createElement("div");
    box.className = "flash flash-error";
    box.textContent = text;
    region.replaceChildren(box);
  }
  // The server's own message for an htmx request (templates/errors/_error.html), with its link.
  function serverMessage(xhr) {
    if ((xhr.getResponseHeader("Content-Type") || "").indexOf("text/html") !== 0) return null;
    var doc = new DOMParser().parseFromString(xhr.responseText, "text/html");
    return doc.querySelector("[data-error-message]");
  }
  document.addEventListener("htmx:responseError", function (event) {
    var status = event.detail.xhr.status;
    var message = serverMessage(event.detail.xhr);
    var region = document.getElementById("flash");
    if (message && region) {
      region.replaceChildren(document.importNode(message, true));
      return;
    }
    announce(status === 403 ? "That was refused: your session may have expired. Reload the page and try again."
      : status === 404 ? "That item no longer exists. Reload the page to see the current state."
      : status === 409 ? "Someone else was changing the same items at that moment. Nothing was changed; try again."
      : status === 413 ? "That was too large to send. Nothing was changed."
      : status === 503 ? "The server cannot reach its database or file storage for a moment. Nothing was changed; try again in a few seconds."
      : "Something went wrong on the server (" + status + "). Nothing was changed; try again.");
  });
  document.addEventListener("htmx:sendError", function () {
    announce("Could not reach the server. Check your connection and try again.");
  });

  // File uploads (form[data-upload]): refuse files over the limit before sending them, show the
  // progress of the upload in the form's <progress>, and swap in the form's answer to a too-large body.
  document.addEventListener("htmx:beforeRequest", function (event) {
    var form = event.target;
    if (!form.matches || !form.matches("form[data-upload]")) return;
    var total = 0;
    form.querySelectorAll("input[type=file]").forEach(function (input) {
      Array.prototype.forEach.call(input.files, function (file) { total += file.size; });
    });
    var limit = Number(form.dataset.maxBytes);
    var message = form.querySelector("[data-upload-error]");
    if (limit && total > limit && message) {
      event.preventDefault();
      message.textContent = "The files are too large: together they may be at most "
        + Math.floor(limit / 1048576) + " MiB. Nothing was sent.";
      message.hidden = false;
      return;
    }
    if (message) message.hidden = true;
    var bar = form.querySelector("progress");
    if (bar) { bar.removeAttribute("value"); bar.hidden = false; }
  });
  document.addEventListener("htmx:xhr:progress", function (event) {
    var form = event.target;
    if (!form.matches || !form.matches("form[data-upload]") || !event.detail.lengthComputable) return;
    var bar = form.querySelector("progress");
    if (!bar) return;
    bar.max = event.detail.total;
    bar.value = event.detail.loaded;
    bar.textContent = Math.round(100 * event.detail.loaded / event.detail.total) + "%";
  });
  document.addEventListener("htmx:afterRequest", function (event) {
    var form = event.target;
    if (!form.matches || !form.matches("form[data-upload]") || !event.detail.failed) return;
    var bar = form.querySelector("progress");
    if (bar) bar.hidden = true;
  });
  document.addEventListener("htmx:beforeSwap", function (event) {
    if (event.detail.xhr.status === 413 && event.target.matches && event.target.matches("form[data-upload]")) {
      event.detail.shouldSwap = true;
      event.detail.isError = false;
    }
  });

  // The top bar's Menu button (shown on narrow screens): it opens and closes the links it controls;
  // Escape closes them and, when focus was inside, puts it back on the button.
  function setMenu(button, open) {
    button.setAttribute("aria-expanded", String(open));
    document.getElementById(button.getAttribute("aria-controls")).classList.toggle("open", open);
  }
  document.addEventListener("click", function (event) {
    var button = event.target.closest(".menu-toggle");
    if (button) setMenu(button, button.getAttribute("aria-expanded") !== "true");
  });
  document.addEventListener("keydown", function (event) {
    var button = document.querySelector('.menu-toggle[aria-expanded="true"]');
    if (event.key !== "Escape" || !button) return;
    var inside = document.getElementById(button.getAttribute("aria-controls")).contains(document.activeElement);
    setMenu(button, false);
    if (inside) button.focus();
  });

  // After a swap, focus what the new content marks as where the reader goes next (results, an error).
  document.addEventListener("htmx:afterSettle", function () {
    var target = document.querySelector("[data-focus-after-swap]");
    if (!target) return;
    target.removeAttribute("data-focus-after-swap");
    target.focus();
  });

  // A swap that removes the focused element would leave the focus on <body>, and a keyboard user back at
  // the top of the page. htmx itself moves it to a new element with the same id (the switch, a sort link);
  // otherwise it goes to the swapped content's [data-focus-fallback] (a list's count line), else to the
  // swapped content itself, else to <main>.
  // The request's own element counts: a button htmx disabled during the request has already lost focus.
  var swappedFrom = null;
  document.addEventListener("htmx:beforeSwap", function (event) {
    var target = event.detail.target;
    var inside = target && (target.contains(document.activeElement) || target.contains(event.target));
    swappedFrom = inside ? target.id || "main" : null;
  });
  document.addEventListener("htmx:afterSettle", function () {
    var from = swappedFrom;
    swappedFrom = null;
    if (!from || (document.activeElement && document.activeElement !== document.body)) return;
    var region = document.getElementById(from) || document.getElementById("main");
    var next = region.querySelector("[data-focus-fallback]") || region;
    if (!next.matches("a[href], button, input, select, textarea, [tabindex]")) next.setAttribute("tabindex", "-1");
    next.focus();
  });

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

  // A form's error summary (templates/_forms.html) lists each problem as a link to its field: following
  // one focuses the field (a fragment link alone only scrolls to it).
  document.addEventListener("click", function (event) {
    var link = event.target.closest && event.target.closest(".error-summary a[href^='#']");
    if (!link) return;
    var field = document.getElementById(link.getAttribute("href").slice(1));
    if (!field) return;
    event.preventDefault();
    field.focus();
    field.scrollIntoView({ block: "center" });
  });
})();
