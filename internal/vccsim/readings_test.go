package vccsim

import (
	"fmt"
	"regexp"
	"testing"
)

func TestAllReadings(t *testing.T) {
	all := AllReadings()
	if len(all) != 2*2*3*2*2 {
		t.Errorf("%d readings, want 48", len(all))
	}
	// Each value of the download reading beside each value of every
	// listing reading.
	pairs := map[string]bool{}
	for _, r := range all {
		for _, v := range []string{fmt.Sprint("end", r.EndInclusive), fmt.Sprint("hidden", r.HiddenStatus), "env" + r.UsersEnvelope, fmt.Sprint("zero", r.UsersZeroBasedPages), fmt.Sprint("empty", r.EmptySearch204)} {
			pairs[fmt.Sprint(v, r.OctetStreamDownloads)] = true
		}
	}
	if len(pairs) != 2*(2+2+3+2+2) {
		t.Errorf("the download reading meets %d of the %d values of the others", len(pairs), 2*(2+2+3+2+2))
	}
	if all[0] != (Readings{}) {
		t.Errorf("the first reading is %+v, want the defaults", all[0])
	}
	seen := map[string]bool{}
	safe := regexp.MustCompile(`^[a-z0-9=,]+$`)
	for _, r := range all {
		l := r.String()
		if seen[l] || !safe.MatchString(l) {
			t.Errorf("label %q is repeated or not test-name safe", l)
		}
		seen[l] = true
		if err := r.validate(); err != nil {
			t.Error(err)
		}
	}
	if got, want := (Readings{}).String(), "end=excl,hidden=404,users=users,base=1,empty=200,media=typed"; got != want {
		t.Errorf("default label %q, want %q", got, want)
	}
	if got, want := (Readings{EndInclusive: true, HiddenStatus: 403, UsersEnvelope: "bare", UsersZeroBasedPages: true, EmptySearch204: true, OctetStreamDownloads: true}).String(),
		"end=incl,hidden=403,users=bare,base=0,empty=204,media=octet"; got != want {
		t.Errorf("label %q, want %q", got, want)
	}
	for _, bad := range []Readings{{HiddenStatus: 200}, {UsersEnvelope: "data"}} {
		if _, err := New(Config{Readings: bad}); err == nil {
			t.Errorf("%+v was accepted", bad)
		}
	}
}

// PairwiseReadings covers every pair of switch values that AllReadings
// holds, in far fewer combinations.
func TestPairwiseReadings(t *testing.T) {
	want := map[string]bool{}
	for _, r := range AllReadings() {
		for _, p := range r.pairs() {
			want[p] = true
		}
	}
	cover := PairwiseReadings()
	got := map[string]bool{}
	for _, r := range cover {
		for _, p := range r.pairs() {
			got[p] = true
		}
	}
	for p := range want {
		if !got[p] {
			t.Errorf("pair %s is not covered", p)
		}
	}
	if len(cover) > 10 || cover[0] != (Readings{}) {
		t.Errorf("%d combinations, the first %+v; want at most 10, the defaults first", len(cover), cover[0])
	}
	t.Logf("%d combinations cover the %d pairs", len(cover), len(want))
}
