package vcc

import (
	"errors"
	"net/http"
	"testing"
)

// checkRedirect lets the bearer token follow a redirect only to the scheme,
// host and port the call was for, and any redirect only where the
// https/loopback rule of the configured URLs allows: never to plain http
// on a host that is not loopback, never down from https, never to file://,
// at most 5 hops. No request is sent: the rule is judged on the URLs.
func TestCheckRedirect(t *testing.T) {
	for _, tc := range []struct {
		name     string
		from, to string
		hops     int  // requests before this one; default 1
		refused  bool // ErrRedirectRefused
		keepAuth bool // Authorization still on the request
	}{
		{name: "same scheme, host and port keeps the token", from: "https://nam.api.cc.vonage.com/a", to: "https://nam.api.cc.vonage.com/b", keepAuth: true},
		{name: "another https host drops it", from: "https://nam.api.cc.vonage.com/a", to: "https://storage.example.com/signed"},
		{name: "another port of the same host drops it", from: "http://127.0.0.1:8080/a", to: "http://127.0.0.1:9090/a"},
		{name: "plain http to a host that is not loopback is refused", from: "http://127.0.0.1:8080/a", to: "http://192.0.2.7/a", refused: true},
		{name: "plain http to a name that is not loopback is refused", from: "http://localhost:8080/a", to: "http://storage.example.com/a", refused: true},
		{name: "https down to http is refused, loopback or not", from: "https://127.0.0.1:8443/a", to: "http://127.0.0.1:8080/a", refused: true},
		{name: "file:// is refused", from: "https://nam.api.cc.vonage.com/a", to: "file:///etc/passwd", refused: true},
		{name: "a sixth hop is refused", from: "https://nam.api.cc.vonage.com/a", to: "https://nam.api.cc.vonage.com/a", hops: 5, refused: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			first, err := http.NewRequest(http.MethodGet, tc.from, nil)
			if err != nil {
				t.Fatal(err)
			}
			via := []*http.Request{first}
			for len(via) < max(tc.hops, 1) {
				via = append(via, first)
			}
			req, err := http.NewRequest(http.MethodGet, tc.to, nil)
			if err != nil {
				t.Fatal(err)
			}
			req.Header.Set("Authorization", "Bearer tok-123456")
			err = checkRedirect(req, via)
			switch {
			case tc.refused && !errors.Is(err, ErrRedirectRefused):
				t.Fatalf("checkRedirect = %v; want ErrRedirectRefused", err)
			case !tc.refused && err != nil:
				t.Fatalf("checkRedirect = %v; want it followed", err)
			case !tc.refused && (req.Header.Get("Authorization") != "") != tc.keepAuth:
				t.Errorf("Authorization %q after the redirect; want it kept: %t", req.Header.Get("Authorization"), tc.keepAuth)
			}
		})
	}
}
