// Renders /openapi.yaml with Swagger UI. Kept out of index.html so the page
// needs no inline script under a strict Content-Security-Policy.
window.addEventListener("load", function () {
  window.ui = SwaggerUIBundle({
    url: "/openapi.yaml",
    dom_id: "#swagger-ui",
    deepLinking: true,
    presets: [SwaggerUIBundle.presets.apis],
    layout: "BaseLayout",
    validatorUrl: null,
    persistAuthorization: false,
    tryItOutEnabled: false,
  });
});
