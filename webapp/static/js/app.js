// Small behaviours shared by every page. No inline scripts: the CSP allows only this origin.
document.addEventListener("htmx:responseError", function (event) {
  // Show the server's message for failed swaps that have no target of their own.
  var xhr = event.detail.xhr;
  if (xhr.status === 401 && xhr.getResponseHeader("HX-Redirect")) return;
  var target = event.detail.target;
  if (target && xhr.responseText && xhr.getResponseHeader("Content-Type") && xhr.getResponseHeader("Content-Type").indexOf("text/html") === 0) {
    target.innerHTML = xhr.responseText;
  }
});
document.addEventListener("htmx:beforeSwap", function (event) {
  // Let 4xx answers with an inline message (422 validation, 409 conflict) replace the target.
  var status = event.detail.xhr.status;
  if (status === 422 || status === 409 || status === 400 || status === 403) {
    event.detail.shouldSwap = true;
    event.detail.isError = false;
  }
});
document.addEventListener("click", function (event) {
  // Copy buttons: <button data-copy="#selector">
  var button = event.target.closest("[data-copy]");
  if (!button) return;
  var source = document.querySelector(button.dataset.copy);
  if (source && navigator.clipboard) navigator.clipboard.writeText(source.textContent.trim());
});
