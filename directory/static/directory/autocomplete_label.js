'use strict';
// The admin's autocomplete (select2) draws a combobox of its own next to the hidden <select>,
// named only after the chosen value: an empty picker has no accessible name. Name it after the
// field's label too ("Successor: 刘琳 · 销售部 …"), once select2 has drawn it.
{
    const $ = django.jQuery;

    function nameAfterLabel(select) {
        const container = select.nextElementSibling;
        if (!container || !container.classList.contains('select2')) {
            return;
        }
        const combobox = container.querySelector('[role="combobox"]');
        if (!combobox || combobox.dataset.labelled) {
            return;
        }
        const label = select.id && document.querySelector('label[for="' + select.id + '"]');
        if (label) {
            if (!label.id) {
                label.id = select.id + '_label';
            }
            const shown = combobox.getAttribute('aria-labelledby');
            combobox.setAttribute('aria-labelledby', shown ? label.id + ' ' + shown : label.id);
        } else if (select.getAttribute('aria-label')) {
            combobox.setAttribute('aria-label', select.getAttribute('aria-label'));
        }
        combobox.dataset.labelled = '1';
    }

    function nameAll(root) {
        $(root).find('select.admin-autocomplete').each(function() { nameAfterLabel(this); });
    }

    // After the admin's autocomplete.js, whose ready handler draws the comboboxes first.
    $(function() { nameAll(document); });
    document.addEventListener('formset:added', (event) => nameAll(event.target));
}
