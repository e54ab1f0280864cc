// Starts Swagger UI on /docs from the vendored bundle (swagger-ui-dist, see
// swagger-ui.VENDORED). An external file, not an inline script: the Content-Security-Policy
// allows scripts from this origin only. No validator badge: it would call swagger.io.
window.addEventListener("DOMContentLoaded", function () {
  "use strict";
  window.ui = SwaggerUIBundle({
    url: "/openapi.json",
    dom_id: "#swagger-ui",
    layout: "BaseLayout",
    deepLinking: true,
    showExtensions: true,
    showCommonExtensions: true,
    validatorUrl: null,
    presets: [SwaggerUIBundle.presets.apis, SwaggerUIBundle.SwaggerUIStandalonePreset],
  });
});
