package web_test

import (
	"testing"
)

// TestBrowserReadsCompressedPages opens the page of events in Chromium through the gateway,
// which compresses it (Chromium offers zstd), and checks through the Resource Timing API that
// the page and the stylesheet came compressed (fewer bytes on the wire than decoded) and
// that Chromium decoded both: the page has its heading and the stylesheet its rules.
func TestBrowserReadsCompressedPages(t *testing.T) {
	b := startBrowser(t)
	b.open("/")
	sizes := eval[map[string]float64](b, `(() => {
		const nav = performance.getEntriesByType("navigation")[0];
		const css = performance.getEntriesByType("resource").find(e => new URL(e.name).pathname === "/static/app.css");
		return {pageEncoded: nav.encodedBodySize, pageDecoded: nav.decodedBodySize,
			cssEncoded: css ? css.encodedBodySize : -1, cssDecoded: css ? css.decodedBodySize : -1,
			rules: document.styleSheets.length ? document.styleSheets[0].cssRules.length : 0,
			headings: document.querySelectorAll("h1").length};
	})()`)
	if !(sizes["pageEncoded"] > 0 && sizes["pageEncoded"] < sizes["pageDecoded"]) {
		t.Errorf("the page: %v bytes sent for %v decoded, want it compressed", sizes["pageEncoded"], sizes["pageDecoded"])
	}
	if !(sizes["cssEncoded"] > 0 && sizes["cssEncoded"] < sizes["cssDecoded"]) {
		t.Errorf("the stylesheet: %v bytes sent for %v decoded, want it compressed", sizes["cssEncoded"], sizes["cssDecoded"])
	}
	if sizes["rules"] == 0 || sizes["headings"] == 0 {
		t.Errorf("%v style rules, %v headings: the page or its stylesheet was not read", sizes["rules"], sizes["headings"])
	}
}
