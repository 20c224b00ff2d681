package secret

import (
	"net/url"
	"strings"
)

// RedactURL is raw with what a URL may carry of a secret hidden: the
// password of its user info and the value of every query parameter whose
// name says it holds one (password, sslpassword, secret, token, key,
// signature …), as pgx, gocloud and signed storage URLs accept them. A URL
// that does not parse is not shown at all.
func RedactURL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return "(a URL that does not parse)"
	}
	q := u.Query()
	changed := false
	for k := range q {
		if secretParam(k) {
			q.Set(k, "xxxxx")
			changed = true
		}
	}
	if changed {
		u.RawQuery = q.Encode()
	}
	return u.Redacted()
}

func secretParam(name string) bool {
	n := strings.ToLower(name)
	for _, w := range []string{"password", "passwd", "secret", "token", "key", "sig", "credential"} {
		if strings.Contains(n, w) {
			return true
		}
	}
	return false
}
