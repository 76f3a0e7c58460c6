"""Text of the libraries we use that their own Chinese catalogues lack, translated in ours.

Django looks a message up in every catalogue of the language (ours, in LOCALE_PATHS, first), so a
library's `gettext("Model name")` reads in Chinese once our catalogue has it. `gettext_noop` only
marks each string here for `makemessages`; nothing imports this module.
"""

from django.utils.translation import gettext_noop

LIBRARY_STRINGS = (
    # Django 5.2's admin index (admin/app_list.html): hidden table headers for screen readers.
    gettext_noop("Model name"),
    gettext_noop("Add link"),
    gettext_noop("Change or view list link"),
    # django-tree-queries: the department's parent.
    gettext_noop("parent"),
    # django-simple-history's names of the history models ("historical enterprise"), made
    # translatable by directory/apps.py.
    gettext_noop("historical {}"),
)
