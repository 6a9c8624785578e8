#!/usr/bin/python3
"""Runs Debian 12's wapiti (3.0.4) with one fix, for scripts/scan.sh; arguments as wapiti's.

The fix: wapiti 3.0.4 compiles every -x/--exclude pattern as "<pattern>\\Z(?ms)", with the
inline flags at the end, which Python 3.11 (Debian 12's) refuses ("global flags not at the
start of the expression"): any exclusion stops the scan with a traceback. The logged-in scan
needs exclusions (/logout and the delete forms would end its session), so the pattern is
compiled here with the flags in front, which matches the same URLs. Nothing else is changed.
"""
import re
import sys

import wapitiCore.net.crawler as crawler


def wildcard_translate(pattern):
    """A wildcard pattern ("*" matches anything) as a regular expression, as wapiti meant it."""
    return re.compile("(?ms)" + "".join(".*" if c == "*" else re.escape(c) for c in pattern) + r"\Z")


crawler.wildcard_translate = wildcard_translate

from wapitiCore.main.wapiti import wapiti_main  # noqa: E402  (after the fix)

if __name__ == "__main__":
    sys.argv[0] = "wapiti"
    sys.exit(wapiti_main())
