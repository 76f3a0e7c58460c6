// The directory import's forms (templates/admin/directory/member/import.html): the upload is
// checked and the confirm is written while the browser waits, a minute or more for a large file.
// On submit, the form's submit buttons are disabled (no second submit) and its status element
// (role="status", a polite live region present and empty from the start) gets its message and an
// indeterminate progress bar. A file, not an inline script: the Content-Security-Policy allows
// scripts from 'self' only.
"use strict";
(function () {
  function start(form, status) {
    if (form.dataset.submitting) return false;
    form.dataset.submitting = "1";
    // Disabled once the submission has begun: a button disabled before it would leave its own
    // name out of the form's data.
    window.setTimeout(function () {
      form.querySelectorAll('input[type="submit"], button[type="submit"], button:not([type])')
        .forEach(function (button) {
          button.disabled = true;
        });
    }, 0);
    const bar = document.createElement("progress");
    bar.setAttribute("aria-hidden", "true");  // the text says it; the bar only moves
    const text = document.createElement("span");
    text.textContent = status.dataset.message;
    status.replaceChildren(bar, " ", text);
    status.classList.add("working");
    form.setAttribute("aria-busy", "true");
    return true;
  }

  function reset(form, status) {
    delete form.dataset.submitting;
    form.removeAttribute("aria-busy");
    form.querySelectorAll("[disabled]").forEach(function (button) {
      if (button.type === "submit" || button.tagName === "BUTTON") button.disabled = false;
    });
    status.replaceChildren();
    status.classList.remove("working");
  }

  function attach() {
    document.querySelectorAll("[data-import-progress]").forEach(function (status) {
      const form = status.closest("form");
      if (!form) return;
      form.addEventListener("submit", function (event) {
        if (!start(form, status)) event.preventDefault();
      });
      // Back to the page from the browser's cache: the form is usable again.
      window.addEventListener("pageshow", function (event) {
        if (event.persisted) reset(form, status);
      });
    });
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", attach);
  } else {
    attach();
  }
})();
