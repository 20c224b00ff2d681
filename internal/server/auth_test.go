package server_test

import (
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"

	"github.com/vccingest/vccingest/internal/browsertest"
)

// A browser, which cannot send a bearer token, signs in with the access
// token once and gets a session cookie: HttpOnly, SameSite=Strict, not the
// token itself; a wrong token, another site's form post and a redirect to
// another host are refused.
func TestLogin_SessionCookie(t *testing.T) {
	const token = "0123456789abcdef-token"
	ts := newServer(t, token)
	noRedirect := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}

	req, _ := http.NewRequest(http.MethodGet, ts.URL+"/?x=1", nil)
	req.Header.Set("Accept", "text/html,application/xhtml+xml")
	resp, err := noRedirect.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/login?next="+url.QueryEscape("/?x=1") {
		t.Errorf("a browser without a session: %d to %q; want 303 to the login page", resp.StatusCode, resp.Header.Get("Location"))
	}

	post := func(form url.Values, origin string) *http.Response {
		t.Helper()
		req, _ := http.NewRequest(http.MethodPost, ts.URL+"/login", strings.NewReader(form.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		if origin != "" {
			req.Header.Set("Origin", origin)
		}
		resp, err := noRedirect.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp
	}
	if r := post(url.Values{"token": {"wrong"}}, ""); r.StatusCode != http.StatusUnauthorized || len(r.Cookies()) != 0 {
		t.Errorf("a wrong token: %d with %d cookies; want 401 and none", r.StatusCode, len(r.Cookies()))
	}
	if r := post(url.Values{"token": {token}}, "https://elsewhere.example"); r.StatusCode != http.StatusForbidden || len(r.Cookies()) != 0 {
		t.Errorf("another site's form: %d with %d cookies; want 403 and none", r.StatusCode, len(r.Cookies()))
	}
	if r := post(url.Values{"token": {token}, "next": {"//elsewhere.example/x"}}, ""); r.Header.Get("Location") != "/" {
		t.Errorf("next=//elsewhere redirected to %q; want /", r.Header.Get("Location"))
	}
	r := post(url.Values{"token": {token}, "next": {"/api/tenants"}}, ts.URL)
	if r.StatusCode != http.StatusSeeOther || r.Header.Get("Location") != "/api/tenants" || len(r.Cookies()) != 1 {
		t.Fatalf("the right token: %d to %q with %d cookies; want 303 to /api/tenants and a cookie", r.StatusCode, r.Header.Get("Location"), len(r.Cookies()))
	}
	c := r.Cookies()[0]
	if !c.HttpOnly || c.SameSite != http.SameSiteStrictMode || c.Path != "/" || strings.Contains(c.Value, token) || c.MaxAge <= 0 {
		t.Errorf("session cookie %+v; want HttpOnly, SameSite=Strict, path /, an expiry, and not the token", c)
	}
	req, _ = http.NewRequest(http.MethodGet, ts.URL+"/api/tenants", nil)
	req.AddCookie(c)
	if resp, err := http.DefaultClient.Do(req); err != nil || resp.StatusCode != http.StatusOK {
		t.Errorf("the session cookie does not open /api/tenants: %v %v", resp.StatusCode, err)
	} else {
		resp.Body.Close()
	}
	req, _ = http.NewRequest(http.MethodGet, ts.URL+"/api/tenants", nil)
	req.AddCookie(&http.Cookie{Name: c.Name, Value: c.Value + "0"})
	if resp, err := http.DefaultClient.Do(req); err != nil || resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("a forged cookie opens /api/tenants: %v %v", resp.StatusCode, err)
	} else {
		resp.Body.Close()
	}
}

// The sign-in, as a person does it in Chromium: the page sends them to
// the form, and the token typed in opens the status page.
func TestLogin_InChromium(t *testing.T) {
	ctx := browsertest.New(t)
	const token = "0123456789abcdef-token"
	ts := newServer(t, token)
	if err := chromedp.Do(ctx,
		chromedp.Navigate(ts.URL+"/"),
		chromedp.WaitVisible(chromedp.ID("token")),
		chromedp.SendKeys(chromedp.ID("token"), token),
		chromedp.Submit(chromedp.ID("token")),
		chromedp.WaitVisible(chromedp.ID("tenant-acme")),
	); err != nil {
		t.Fatalf("chromium: sign in: %v", err)
	}
	text, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS("body")))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(text, "acme") || strings.Contains(text, token) {
		t.Errorf("after signing in the page reads:\n%s", text)
	}
}
