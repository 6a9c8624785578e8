// read.mjs reads calendar objects with ical.js, the iCalendar parser Thunderbird uses, and
// prints what a calendar client takes from each. Usage: node read.mjs <path of ical.js's
// dist/ical.js>, with a JSON object {name: iCalendar text} on stdin; it prints a JSON object
// {name: {method, events: [{uid, sequence, status, summary, start, end, lastModified}]}}, or
// {name: {error}} for an object ical.js refuses. Times are ISO 8601 in UTC.
import { readFileSync } from "node:fs";
import { pathToFileURL } from "node:url";

const ICAL = (await import(pathToFileURL(process.argv[2]).href)).default;

// utc returns an ICAL.Time as an ISO 8601 UTC string, or null.
function utc(t) {
  return t ? t.toJSDate().toISOString() : null;
}

// read returns what a client takes from the iCalendar text ics.
function read(ics) {
  const cal = new ICAL.Component(ICAL.parse(ics));
  if (cal.name !== "vcalendar") {
    throw new Error(`the object is a ${cal.name}, not a vcalendar`);
  }
  return {
    method: cal.getFirstPropertyValue("method"),
    version: cal.getFirstPropertyValue("version"),
    prodid: cal.getFirstPropertyValue("prodid"),
    events: cal.getAllSubcomponents("vevent").map((vevent) => {
      const ev = new ICAL.Event(vevent);
      return {
        uid: ev.uid,
        sequence: vevent.hasProperty("sequence") ? ev.sequence : null,
        status: vevent.getFirstPropertyValue("status"),
        summary: ev.summary,
        start: utc(ev.startDate),
        end: utc(ev.endDate),
        lastModified: utc(vevent.getFirstPropertyValue("last-modified")),
      };
    }),
  };
}

const input = JSON.parse(readFileSync(0, "utf8"));
const out = {};
for (const [name, ics] of Object.entries(input)) {
  try {
    out[name] = read(ics);
  } catch (e) {
    out[name] = { error: String(e && e.stack ? e.stack : e) };
  }
}
process.stdout.write(JSON.stringify(out));
