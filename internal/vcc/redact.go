package vcc

import (
	"strconv"
	"strings"
	"sync"
	"unicode/utf8"
)

// maxServerText is how much of a server's own words an error keeps.
const maxServerText = 300

// tokenMemory is how many issued tokens the client remembers to scrub from
// server text: those of every scope, and the ones before them.
const tokenMemory = 16

// issuedTokens remembers the access tokens the client was issued, newest
// last, so that none of them reaches an error through a server that echoes
// the request.
type issuedTokens struct {
	mu   sync.Mutex
	toks []string
}

func (it *issuedTokens) remember(tok string) {
	if tok == "" {
		return
	}
	it.mu.Lock()
	defer it.mu.Unlock()
	it.toks = append(it.toks, tok)
	if len(it.toks) > tokenMemory {
		it.toks = it.toks[len(it.toks)-tokenMemory:]
	}
}

func (it *issuedTokens) all() []string {
	it.mu.Lock()
	defer it.mu.Unlock()
	return append([]string(nil), it.toks...)
}

// serverText makes text a server sent fit to keep in an error, a log line,
// the catalog or a page: the client secret and every token it was issued
// replaced by [redacted] (a hostile or broken server may echo the request),
// cut to maxServerText bytes on a character boundary, and quoted when it
// holds anything a terminal would act on.
func (c *Client) serverText(text string) string {
	if text == "" {
		return ""
	}
	secrets := c.issued.all()
	if s := c.clientSecret().Reveal(); s != "" {
		secrets = append(secrets, s)
	}
	for _, s := range secrets {
		if len(s) >= 8 { // a short "secret" would redact ordinary words
			text = strings.ReplaceAll(text, s, "[redacted]")
		}
	}
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
