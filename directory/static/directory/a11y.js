// Accessible names for the admin's form fields that Django and its libraries leave unnamed
// (WCAG 2.1 AA 4.1.2 and 1.3.1, checked by axe-core in the browser tests); linked by
// templates/admin/base_site.html. A file, not an inline script: the Content-Security-Policy
// allows scripts from 'self' only. It runs once the admin's own scripts (the
// autocomplete's select2 among them) have built their widgets, and again whenever the page's
// elements change.
"use strict";
(function () {
  function text(element) {
    return element ? element.textContent.replace(/[:：\s]+$/, "").replace(/\s+/g, " ").trim() : "";
  }

  function labelFor(field) {
    return field.id ? document.querySelector('label[for="' + CSS.escape(field.id) + '"]') : null;
  }

  function hasName(field) {
    return field.hasAttribute("aria-label") || field.hasAttribute("aria-labelledby")
      || field.closest("label") || labelFor(field);
  }

  // The autocomplete (select2) draws a combobox named by the chosen value only, so an empty
  // one has no name: name it by the field's label too. The value inside it is drawn as a
  // read-only "textbox" without a name of its own: it is the combobox's text, not a field.
  function nameAutocompletes() {
    document.querySelectorAll(".select2-container").forEach(function (container) {
      const select = container.previousElementSibling;
      const combobox = container.querySelector('[role="combobox"]');
      const label = select && labelFor(select);
      if (!combobox || !label) return;
      if (!label.id) label.id = select.id + "-label";
      const named = (combobox.getAttribute("aria-labelledby") || "").split(" ");
      if (!named.includes(label.id)) {
        combobox.setAttribute("aria-labelledby", [label.id].concat(named).join(" ").trim());
      }
      combobox.querySelectorAll('[role="textbox"]').forEach(function (value) {
        value.removeAttribute("role");
        value.removeAttribute("aria-readonly");
      });
    });
  }

  // The changelist's editable columns (list_editable) and the split date and time inputs have
  // no label: name them by their column's header, or by the field's label and "Date"/"Time".
  function nameUnlabelledFields() {
    document.querySelectorAll("#content input:not([type=hidden]), #content select, #content textarea")
      .forEach(function (field) {
        if (hasName(field)) return;
        const cell = field.closest("td");
        const table = field.closest("table");
        if (cell && table && table.tHead) {
          const header = table.tHead.rows[0] && table.tHead.rows[0].cells[cell.cellIndex];
          const row = field.closest("tr");
          const rowName = row && row.querySelector("th");
          const name = [text(header), text(rowName)].filter(Boolean).join(" — ");
          if (name) field.setAttribute("aria-label", name);
          return;
        }
        const datetime = field.closest("p.datetime");
        if (datetime) {
          const row = datetime.closest(".form-row, .fieldBox, div");
          const fieldLabel = row && row.querySelector("label");
          let before = field.previousSibling;
          while (before && before.nodeType !== Node.TEXT_NODE) before = before.previousSibling;
          const part = before ? before.textContent.replace(/[:：\s]+$/, "").trim() : "";
          const name = [text(fieldLabel), part].filter(Boolean).join(" — ");
          if (name) field.setAttribute("aria-label", name);
        }
      });
  }

  function nameAll() {
    nameAutocompletes();
    nameUnlabelledFields();
  }

  // The admin builds its autocompletes in jQuery's ready handlers, which run after
  // DOMContentLoaded and may run after `load` too; widgets are also added later (an inline
  // formset's "Add another"). So: once the document is parsed, and after every change of the
  // page's elements.
  document.addEventListener("DOMContentLoaded", function () {
    nameAll();
    new MutationObserver(nameAll).observe(document.body, {childList: true, subtree: true});
  });
})();
