package fleet

import (
	"context"
	"fmt"
	"testing"
)

func TestSplit(t *testing.T) {
	budget := Budget{Rate: 10, Downloads: 8}
	for _, tc := range []struct {
		live []string
		want map[string]Budget
	}{
		{[]string{"a"}, map[string]Budget{"a": {10, 8}}},
		{[]string{"b", "a"}, map[string]Budget{"a": {5, 4}, "b": {5, 4}}},
		{[]string{"c", "a", "b"}, map[string]Budget{"a": {10.0 / 3, 3}, "b": {10.0 / 3, 3}, "c": {10.0 / 3, 2}}},
		// More workers than downloads: one each, the only way the budget
		// is exceeded.
		{[]string{"a", "b", "c", "d", "e", "f", "g", "h", "i"}, map[string]Budget{"a": {10.0 / 9, 1}, "i": {10.0 / 9, 1}}},
		// A worker missing from the list (its lease was not read back)
		// counts itself.
		{[]string{"a"}, map[string]Budget{"b": {5, 4}}},
	} {
		t.Run(fmt.Sprint(tc.live), func(t *testing.T) {
			for self, want := range tc.want {
				if got := Split(budget, tc.live, self); got != want {
					t.Errorf("%s: %+v, want %+v", self, got, want)
				}
			}
		})
	}
	// The shares add up to the budget.
	live := []string{"w1", "w2", "w3", "w4", "w5"}
	var sum Budget
	for _, id := range live {
		s := Split(Budget{Rate: 7, Downloads: 13}, live, id)
		sum.Rate += s.Rate
		sum.Downloads += s.Downloads
	}
	if sum.Downloads != 13 || sum.Rate < 7-1e-9 || sum.Rate > 7+1e-9 {
		t.Errorf("shares add up to %+v, want the budget {7 13}", sum)
	}
	if got := Split(Budget{}, live, "w1"); got.Rate != 0 {
		t.Errorf("no rate limit split into %v, want none (0)", got.Rate)
	}
}

func TestSlots(t *testing.T) {
	ctx := context.Background()
	s := NewSlots(2)
	for range 2 {
		if err := s.Acquire(ctx); err != nil {
			t.Fatal(err)
		}
	}
	done, cancel := context.WithCancel(ctx)
	cancel()
	if err := s.Acquire(done); err == nil {
		t.Fatal("a third slot of two was granted")
	}

	// A smaller size holds new downloads back until enough have finished.
	s.SetSize(1)
	s.Release()
	if err := s.Acquire(done); err == nil {
		t.Fatal("a slot was granted with one download running and a size of one")
	}
	got := make(chan error, 1)
	go func() { got <- s.Acquire(ctx) }()
	s.Release()
	if err := <-got; err != nil {
		t.Fatal(err)
	}

	// A larger size lets a waiting download start at once.
	go func() { got <- s.Acquire(ctx) }()
	s.SetSize(2)
	if err := <-got; err != nil {
		t.Fatal(err)
	}
}
