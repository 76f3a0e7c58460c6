'use strict';
// The successor pickers (offboarding/admin/pickers.py): as soon as HR chooses someone, before the
// form is submitted, say whether the external contacts that move would fit within their limit.
// The picker's results carry each candidate's load (`held`, `limit`); the <select> carries how
// many contacts move (`data-contacts-moving`) and the sentence to show (`data-over-limit-text`,
// translated by the server). The server warns again, and writes nothing, on submit.
{
    const $ = django.jQuery;

    function warningBox(select) {
        let box = document.getElementById(select.id + '_load_warning');
        if (!box) {
            box = document.createElement('p');
            box.id = select.id + '_load_warning';
            box.className = 'exit-load-warning';
            box.setAttribute('role', 'status');
            box.hidden = true;
            const container = select.nextElementSibling || select;
            container.insertAdjacentElement('afterend', box);
        }
        return box;
    }

    function show(select, data) {
        const box = warningBox(select);
        const moving = parseInt(select.dataset.contactsMoving || '0', 10);
        if (!data || data.held === undefined || !moving || data.held + moving <= data.limit) {
            box.hidden = true;
            box.textContent = '';
            return;
        }
        const room = Math.max(0, data.limit - data.held);
        const values = {
            name: data.name, held: data.held, limit: data.limit, moving: moving, left: moving - room
        };
        box.textContent = select.dataset.overLimitText.replace(
            /\{(\w+)\}/g, (whole, key) => (key in values ? String(values[key]) : whole)
        );
        box.hidden = false;
    }

    $(function() {
        $('select[data-contacts-moving]')
            .on('select2:select', function(event) { show(this, event.params.data); })
            .on('select2:clear', function() { show(this, null); });
    });
}
