package vccsim

import (
	"mime"
	"net/http"
	"strconv"
	"strings"
)

// The Accept header is required on every resource call, the binary content
// download included, and must name a version the API serves as
// application/vnd.newvoicemedia.v{n}+json. Nothing else stands in for it:
// not application/json, not */*, not a missing header.

// vndType is the media type of API version v.
func vndType(v int) string { return "application/vnd.newvoicemedia.v" + strconv.Itoa(v) + "+json" }

// acceptedVersions lists, in the header's order, the vnd versions an Accept
// header names. Parameters (q, charset) are ignored.
func acceptedVersions(header string) []int {
	var out []int
	for _, part := range strings.Split(header, ",") {
		mt, _, err := mime.ParseMediaType(strings.TrimSpace(part))
		if err != nil {
			continue
		}
		rest, ok := strings.CutPrefix(mt, "application/vnd.newvoicemedia.v")
		if !ok {
			continue
		}
		num, ok := strings.CutSuffix(rest, "+json")
		if !ok {
			continue
		}
		if v, err := strconv.Atoi(num); err == nil && v >= 0 && strconv.Itoa(v) == num {
			out = append(out, v)
		}
	}
	return out
}

// pick returns the first of the header's versions that valid holds.
func pick(header string, valid ...int) (int, []int) {
	named := acceptedVersions(header)
	for _, v := range named {
		for _, ok := range valid {
			if v == ok {
				return v, named
			}
		}
	}
	return 0, named
}

// negotiateContent: v3 or v2; anything else, or nothing, is the one
// documented error, which lists only v3.
func negotiateContent(header string) (int, func(http.ResponseWriter)) {
	if v, _ := pick(header, 3, 2); v != 0 {
		return v, nil
	}
	return 0, func(w http.ResponseWriter) {
		writeMessage(w, http.StatusBadRequest, "Invalid api-version! Valid values: '"+vndType(3)+"'")
	}
}

// negotiateUsers: v4 only.
func negotiateUsers(header string) (int, func(http.ResponseWriter)) {
	v, named := pick(header, 4)
	switch {
	case v != 0:
		return v, nil
	case len(named) == 0:
		return 0, func(w http.ResponseWriter) {
			writeBoom(w, http.StatusBadRequest, "Version missing from Accept header!")
		}
	}
	return 0, func(w http.ResponseWriter) {
		writeBoom(w, http.StatusBadRequest, "Invalid api-version! Valid values: 4")
	}
}

// negotiateStats: v3 or v2.
func negotiateStats(header string) (int, func(http.ResponseWriter)) {
	v, named := pick(header, 3, 2)
	switch {
	case v != 0:
		return v, nil
	case len(named) == 0:
		return 0, func(w http.ResponseWriter) { writeBoom(w, http.StatusBadRequest, "Invalid Accept header!") }
	}
	return 0, func(w http.ResponseWriter) {
		writeBoom(w, http.StatusBadRequest, "Invalid api-version! Valid values: 2,3")
	}
}
