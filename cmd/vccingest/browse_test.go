package main

import "testing"

// Text from VCC reaches the terminal escaped when a terminal would act on
// it or hide it.
func TestPrintable(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"Ada Lovelace", "Ada Lovelace"},
		{"Zoë Ørsted 张伟", "Zoë Ørsted 张伟"},
		{"evil\x1b]0;pwned\x07", `"evil\x1b]0;pwned\a"`}, // OSC: sets the window title
		{"red\x1b[31m", `"red\x1b[31m"`},                 // CSI
		{"c1\u009b31m", `"c1\u009b31m"`},                 // C1 CSI
		{"abc\u202edcba", `"abc\u202edcba"`},             // bidi override
		{"zero\u200bwidth", `"zero\u200bwidth"`},         // zero-width space
		{"bad\xffutf8", `"bad\xffutf8"`},                 // invalid UTF-8
		{"tab\tnewline\n", `"tab\tnewline\n"`},
	} {
		if got := printable(tc.in); got != tc.want {
			t.Errorf("printable(%q) = %s, want %s", tc.in, got, tc.want)
		}
	}
}
