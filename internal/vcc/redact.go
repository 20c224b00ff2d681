package vcc

import (
	"strconv"
	"unicode/utf8"
)

// maxServerText is how much of a server's own words an error keeps.
const maxServerText = 300

// serverText makes text a server sent fit to keep in an error, a log line,
// the catalog or a page: the client secret and every token it was issued
// replaced by [redacted] (a hostile or broken server may echo the request),
// cut to maxServerText bytes on a character boundary, and quoted when it
// holds anything a terminal would act on.
func (c *Client) serverText(text string) string {
	if text == "" {
		return ""
	}
	text = c.redact.Redact(text)
	if len(text) > maxServerText {
		cut := maxServerText
		for cut > 0 && !utf8.RuneStart(text[cut]) {
			cut--
		}
		text = text[:cut] + "…"
	}
	for _, r := range text {
		if r < 0x20 || r == 0x7f || (r >= 0x80 && r <= 0x9f) || r == utf8.RuneError {
			return strconv.QuoteToASCII(text)
		}
	}
	return text
}
