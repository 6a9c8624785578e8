// EventPost: small enhancements of server-rendered pages. Every page works without them.
(function () {
  'use strict';

  var browserTZ = '';
  try {
    browserTZ = Intl.DateTimeFormat().resolvedOptions().timeZone || '';
  } catch (e) {
    browserTZ = '';
  }

  function each(selector, fn) {
    Array.prototype.forEach.call(document.querySelectorAll(selector), fn);
  }

  // Forms that interpret dates and times in the viewer's time zone say which it is.
  if (browserTZ) {
    each('input[data-browser-tz]', function (el) { el.value = browserTZ; });
    each('[data-browser-tz-name]', function (el) { el.textContent = browserTZ; });
    each('input[data-tz-default]', function (el) {
      if (!el.value) { el.value = browserTZ; }
    });
  }

  // Suggest every time zone the browser knows.
  var zones = document.getElementById('timezones');
  if (zones && typeof Intl.supportedValuesOf === 'function') {
    try {
      var known = {};
      each('#timezones option', function (o) { known[o.value] = true; });
      Intl.supportedValuesOf('timeZone').forEach(function (z) {
        if (!known[z]) {
          var o = document.createElement('option');
          o.value = z;
          zones.appendChild(o);
        }
      });
    } catch (e) { /* keep the short list */ }
  }

  // Show an event's time in the viewer's time zone too, when it is another.
  each('time[data-local]', function (el) {
    var eventTZ = el.getAttribute('data-tz');
    var out = el.parentNode.querySelector('[data-local-out]');
    if (!out || !browserTZ || browserTZ === eventTZ) { return; }
    var opts = { weekday: 'short', day: 'numeric', month: 'short', year: 'numeric',
      hour: '2-digit', minute: '2-digit', timeZoneName: 'short' };
    try {
      var text = new Intl.DateTimeFormat(undefined, opts).format(new Date(el.getAttribute('datetime')));
      out.textContent = 'Your time: ' + text + ' (' + browserTZ + ')';
      out.hidden = false;
    } catch (e) { /* leave the event's own time */ }
  });

  // "Use my location" fills in the search's coordinates and searches.
  var nearMe = document.querySelector('[data-near-me]');
  if (nearMe && navigator.geolocation) {
    nearMe.hidden = false;
    nearMe.addEventListener('click', function () {
      var status = document.getElementById('near-status');
      var form = nearMe.form;
      status.textContent = 'Finding your location…';
      nearMe.disabled = true;
      navigator.geolocation.getCurrentPosition(function (pos) {
        form.elements.lat.value = pos.coords.latitude.toFixed(4);
        form.elements.lon.value = pos.coords.longitude.toFixed(4);
        if (!form.elements.radius.value) { form.elements.radius.value = '25'; }
        status.textContent = 'Location found. Searching near you…';
        nearMe.disabled = false;
        if (typeof form.requestSubmit === 'function') { form.requestSubmit(); } else { form.submit(); }
      }, function (err) {
        status.textContent = 'Your location is not available (' + err.message + '). Enter a latitude and longitude instead.';
        nearMe.disabled = false;
      }, { timeout: 15000, maximumAge: 600000 });
    });
  }

  // Choosing a reminder time selects "At a time I choose".
  var at = document.getElementById('f-at');
  var custom = document.getElementById('f-when-custom');
  if (at && custom) {
    at.addEventListener('input', function () { custom.checked = true; });
  }

  // "Copy" buttons copy the value of the input they name; without script the input is
  // read-only text to select.
  each('button[data-copy]', function (btn) {
    var input = document.getElementById(btn.getAttribute('data-copy'));
    var status = document.getElementById('copy-status');
    if (!input) { return; }
    btn.hidden = false;
    input.addEventListener('focus', function () { input.select(); });
    btn.addEventListener('click', function () {
      var done = function () { if (status) { status.textContent = 'Copied.'; } };
      var fallback = function () {
        input.focus();
        input.select();
        try {
          if (document.execCommand('copy')) { done(); return; }
        } catch (e) { /* fall through */ }
        if (status) { status.textContent = 'Select the address and copy it.'; }
      };
      if (navigator.clipboard && navigator.clipboard.writeText) {
        navigator.clipboard.writeText(input.value).then(done, fallback);
      } else {
        fallback();
      }
    });
  });

  // Move the focus to a form's error summary, so that it is read out first.
  var summary = document.querySelector('[data-focus-on-load]');
  if (summary) { summary.focus(); }
})();
