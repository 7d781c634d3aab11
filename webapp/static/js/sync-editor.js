// Line numbers beside the project file editor: keep the gutter's lines and scroll with the text.
(function () {
  function attach(textarea) {
    var gutter = textarea.parentElement.querySelector(".line-numbers");
    if (!gutter) return;
    function renumber() {
      var lines = textarea.value.split("\n").length;
      var out = [];
      for (var i = 1; i <= lines; i++) out.push(i);
      gutter.textContent = out.join("\n") + "\n";
    }
    textarea.addEventListener("input", renumber);
    textarea.addEventListener("scroll", function () { gutter.scrollTop = textarea.scrollTop; });
    renumber();
  }
  function init(root) {
    root.querySelectorAll("textarea[data-line-numbers]").forEach(attach);
  }
  document.addEventListener("DOMContentLoaded", function () { init(document); });
  document.addEventListener("htmx:afterSwap", function (event) { init(event.detail.target); });
})();
