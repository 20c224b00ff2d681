package plural

import "testing"

func TestCount(t *testing.T) {
	for _, tc := range []struct {
		n    int
		want string
	}{{0, "0 windows"}, {1, "1 window"}, {2, "2 windows"}, {-1, "-1 windows"}} {
		if got := Count(tc.n, "window", "windows"); got != tc.want {
			t.Errorf("Count(%d) = %q, want %q", tc.n, got, tc.want)
		}
	}
}
