/* The run selector of the Flywheel page: choosing a run reloads the page with it (no inline handlers: the
   page's Content-Security-Policy allows scripts only from these static files). */
(function () {
  "use strict";
  document.querySelectorAll("select[data-submit-on-change]").forEach(function (select) {
    select.addEventListener("change", function () { select.form.submit(); });
  });
})();
