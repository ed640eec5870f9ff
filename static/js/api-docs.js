// The API reference page: render the served OpenAPI schema with the vendored Swagger UI.
// A static file, not an inline script: the Content-Security-Policy allows only our own scripts.
(function () {
  "use strict";

  var root = document.getElementById("swagger-ui");
  if (!root || !window.SwaggerUIBundle) return;

  // Swagger UI is light unless <html> has its "dark-mode" class: follow the system setting, as Pico does.
  var dark = window.matchMedia("(prefers-color-scheme: dark)");
  function followColorScheme() {
    document.documentElement.classList.toggle("dark-mode", dark.matches);
  }
  followColorScheme();
  dark.addEventListener("change", followColorScheme);

  // "Try it out" calls this server as the signed-in user: the API wants the session's CSRF token on
  // writes (a key in "Authorize" needs none). It goes only to our own origin, never to another host.
  var csrfToken = document.querySelector('meta[name="csrf-token"]').content;
  var safeMethods = ["GET", "HEAD", "OPTIONS"];
  function addCsrfToken(request) {
    var sameOrigin = new URL(request.url, window.location.href).origin === window.location.origin;
    if (sameOrigin && safeMethods.indexOf((request.method || "GET").toUpperCase()) === -1) {
      request.headers["X-CSRFToken"] = csrfToken;
    }
    return request;
  }

  window.SwaggerUIBundle({
    url: root.dataset.schemaUrl,
    domNode: root,
    // No badge that sends the schema to swagger.io's validator; the page talks to this server only.
    validatorUrl: null,
    // No deep links: they put a link inside each operation's summary button (a focusable control within
    // another, which screen readers and keyboards handle badly, axe's "nested-interactive").
    deepLinking: false,
    docExpansion: "list",
    defaultModelsExpandDepth: 0,
    displayOperationId: false,
    filter: true,
    requestInterceptor: addCsrfToken,
  });
})();
