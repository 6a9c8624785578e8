package web

// Exported for the tests of package web_test: the one way dates and times are written, so
// that a test can tell what a page, or its script, must show.
var (
	FormatWhen = formatWhen
	FormatSpan = formatSpan
	ZoneLabel  = zoneLabel
	ParseLocal = parseLocal
)
