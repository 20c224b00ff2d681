// Package plural words counts for people: "1 window", "2 windows". Every
// command, the status page and the coverage summary say counts through it,
// so they agree.
package plural

import "strconv"

// Count says n of a noun: "1 call", "0 calls", "2 calls".
func Count(n int, one, many string) string {
	return strconv.Itoa(n) + " " + Word(n, one, many)
}

// Word is the noun's form for n: one for exactly 1, many otherwise.
func Word(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}
