// django-celery-beat's periodic-task form: show what the chosen crontab means in words.
// (The library's inline script, as a file, so that the Content-Security-Policy allows it.)
(function ($) {
  "use strict";
  const readableCrontabs = JSON.parse($("#readable-crontabs").text());
  const originalHelp = JSON.parse($("#crontab-help").text());

  function updateCrontabHelp(additional) {
    const help = $(".field-crontab .help").empty().text(originalHelp);
    if (additional) {
      help.append($("<br>"), document.createTextNode("Translation: " + additional));
    }
  }

  $(".field-crontab_translation").hide();
  $(".field-crontab").change(function () {
    updateCrontabHelp(readableCrontabs[$("#id_crontab").val()]);
  });
})(django.jQuery);
