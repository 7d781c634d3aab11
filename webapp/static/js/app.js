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
document.addEventListener("click", function (event) {
  // Copy buttons say they copied, for a moment.
  var button = event.target.closest("[data-copy]");
  if (!button) return;
  button.setAttribute("data-copied", "");
  var label = button.querySelector("[data-copy-label]");
  var before = label ? label.textContent : "";
  if (label) label.textContent = "Copied";
  setTimeout(function () {
    button.removeAttribute("data-copied");
    if (label) label.textContent = before;
  }, 1500);
});

// The navigation drawer below 1024 px: the menu button opens it; the backdrop, Escape or a link closes it.
function setNavOpen(open) {
  document.body.classList.toggle("nav-open", open);
  var toggle = document.querySelector("[data-nav-toggle]");
  if (toggle) toggle.setAttribute("aria-expanded", open ? "true" : "false");
  var backdrop = document.querySelector("[data-nav-close]");
  if (backdrop) backdrop.hidden = !open;
}
document.addEventListener("click", function (event) {
  if (event.target.closest("[data-nav-toggle]")) {
    setNavOpen(!document.body.classList.contains("nav-open"));
  } else if (event.target.closest("[data-nav-close]") || event.target.closest(".sidenav a")) {
    setNavOpen(false);
  }
  // Close an open account menu when the click lands outside it.
  document.querySelectorAll("details.account[open]").forEach(function (menu) {
    if (!menu.contains(event.target)) menu.removeAttribute("open");
  });
  var dismiss = event.target.closest("[data-dismiss]");
  if (dismiss && dismiss.parentElement) dismiss.parentElement.remove();
});
document.addEventListener("keydown", function (event) {
  if (event.key !== "Escape") return;
  setNavOpen(false);
  document.querySelectorAll("details.account[open]").forEach(function (menu) { menu.removeAttribute("open"); });
});

// Plain (non-HTMX) forms that ask before they post: <form data-confirm="Delete it?">.
document.addEventListener("submit", function (event) {
  var form = event.target;
  if (!form.dataset || !form.dataset.confirm || form.hasAttribute("hx-post")) return;
  if (!window.confirm(form.dataset.confirm)) event.preventDefault();
});

// Toasts leave by themselves after a while.
document.addEventListener("DOMContentLoaded", function () {
  setTimeout(function () {
    document.querySelectorAll(".toasts .toast-success, .toasts .toast-info").forEach(function (toast) { toast.remove(); });
  }, 8000);
});
