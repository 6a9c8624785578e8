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

  // Dates and times are written as the server writes them (render.go's formatWhen and
  // formatSpan): "Fri 4 Dec 2026, 18:00 – 20:00 UTC+1", whatever the browser's language.
  var DAYS = ['Sun', 'Mon', 'Tue', 'Wed', 'Thu', 'Fri', 'Sat'];
  var MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];
  function pad(n) { return (n < 10 ? '0' : '') + n; }
  // wall returns the wall clock of date in the time zone tz, and that zone's UTC offset
  // then, in minutes.
  function wall(date, tz) {
    var f = new Intl.DateTimeFormat('en-US', { timeZone: tz, hourCycle: 'h23', year: 'numeric',
      month: 'numeric', day: 'numeric', hour: 'numeric', minute: 'numeric', second: 'numeric' });
    var p = {};
    f.formatToParts(date).forEach(function (x) { p[x.type] = x.value; });
    var w = { y: +p.year, mo: +p.month, d: +p.day, h: +p.hour % 24, mi: +p.minute };
    var asUTC = Date.UTC(w.y, w.mo - 1, w.d, w.h, w.mi, +p.second);
    w.off = Math.round((asUTC - Math.floor(date.getTime() / 1000) * 1000) / 60000);
    w.wd = new Date(Date.UTC(w.y, w.mo - 1, w.d)).getUTCDay();
    return w;
  }
  function zoneLabel(off) {
    if (!off) { return 'UTC'; }
    var sign = off < 0 ? '\u2212' : '+';
    off = Math.abs(off);
    return 'UTC' + sign + Math.floor(off / 60) + (off % 60 ? ':' + pad(off % 60) : '');
  }
  function dateTime(w) {
    return DAYS[w.wd] + ' ' + w.d + ' ' + MONTHS[w.mo - 1] + ' ' + w.y + ', ' + pad(w.h) + ':' + pad(w.mi);
  }
  function formatWhen(w) { return dateTime(w) + ' ' + zoneLabel(w.off); }
  function formatSpan(start, end, tz) {
    var s = wall(start, tz);
    if (!end) { return formatWhen(s); }
    var e = wall(end, tz);
    if (s.y !== e.y || s.mo !== e.mo || s.d !== e.d) { return formatWhen(s) + ' \u2013 ' + formatWhen(e); }
    var hm = pad(e.h) + ':' + pad(e.mi);
    if (s.off !== e.off) { return formatWhen(s) + ' \u2013 ' + hm + ' ' + zoneLabel(e.off); }
    return dateTime(s) + ' \u2013 ' + hm + ' ' + zoneLabel(e.off);
  }

  // Show an event's time in the viewer's time zone too, when it reads otherwise there.
  each('time[data-local]', function (el) {
    var eventTZ = el.getAttribute('data-tz');
    var out = el.parentNode.querySelector('[data-local-out]');
    if (!out || !browserTZ) { return; }
    try {
      var start = new Date(el.getAttribute('datetime'));
      var end = el.getAttribute('data-end') ? new Date(el.getAttribute('data-end')) : null;
      var mine = formatSpan(start, end, browserTZ);
      if (mine === formatSpan(start, end, eventTZ)) { return; }
      out.textContent = 'Your time: ' + mine + ' (' + browserTZ + ')';
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

  // Move the focus to a form's error summary, or else to the confirmation of what the
  // previous page did, so that screen readers read it out first: a live region that is on
  // the page as it loads is not announced.
  var first = document.querySelector('.error-summary[data-focus-on-load]') || document.querySelector('[data-focus-on-load]');
  if (first) { first.focus(); }
})();
