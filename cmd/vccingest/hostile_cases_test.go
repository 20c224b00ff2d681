package main

import (
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/vccingest/vccingest/internal/vccsim"
	"github.com/vccingest/vccingest/internal/vccsim/hostile"
)

// hostileCases are the attacks TestSync_AgainstAHostileVCC runs, each named
// after what it proves. Each is checked for its exit code, bounded time and
// memory, only verified bytes stored, nothing stored lost, and no secret
// anywhere; check adds what is particular to it.
var hostileCases = []hostileCase{
	{name: "TokenRedirect307_SecretNotResent", attack: hostile.TokenRedirect307, code: 1},
	{name: "TokenRedirect308_SecretNotResent", attack: hostile.TokenRedirect308, code: 1},
	{name: "TokenWithoutAccessToken_IsACredentialError", attack: hostile.TokenWithoutAccessToken, code: 2},
	{name: "NegativeExpiresIn_NoTokenRequestPerCall", attack: hostile.TokenNegativeExpiry, code: 0, check: fewTokenRequests},
	{name: "AbsurdExpiresIn_Clamped", attack: hostile.TokenAbsurdExpiry, code: 0, check: fewTokenRequests},
	{name: "FractionalExpiresIn_TokenTakenAndClamped", attack: hostile.TokenFractionalExpiry, code: 0, check: all(allStored, fewTokenRequests)},
	{name: "ExpiresInPastEveryNumberType_TokenTakenAndClamped", attack: hostile.TokenHugeExpiry, code: 0, check: all(allStored, fewTokenRequests)},
	{name: "DownloadRedirectOtherPort_TokenNotSent", attack: hostile.DownloadRedirectOtherPort, code: 1},
	{name: "DownloadRedirectFile_RefusedNotRetried", attack: hostile.DownloadRedirectFile, code: 1},
	{name: "DownloadRedirectLoop_RefusedNotRetried", attack: hostile.DownloadRedirectLoop, code: 1},
	{name: "DownloadRedirectHTTPSToHTTP_NotFollowedNoTokenFailsForGood", attack: hostile.DownloadRedirectToHTTP, tls: true, code: 1,
		check: all(notFollowed, failedForGood("redirect refused: from https to http://"))},
	{name: "ListingRedirectHTTPSToHTTP_NotFollowedNoTokenWindowFails", attack: hostile.ListingRedirectToHTTP, tls: true, code: 1,
		check: all(notFollowed, windowsNotListed("redirect refused: from https to http://"))},
	// Headers Go's HTTP client refuses as not HTTP: the download fails at
	// once, one request per recording, not retried as a network error.
	{name: "DownloadContentLengthNotANumber_FailsForGoodNotRetried", attack: hostile.DownloadContentLengthNotANumber, code: 1, check: malformedNotRetried},
	{name: "DownloadTwoContentLengths_FailsForGoodNotRetried", attack: hostile.DownloadContentLengthTwice, code: 1, check: malformedNotRetried},
	{name: "DownloadContentTypeWithControlChar_FailsForGoodNotRetried", attack: hostile.DownloadContentTypeControlChar, code: 1, check: malformedNotRetried},
	{name: "DownloadETagWithBareCR_FailsForGoodNotRetried", attack: hostile.DownloadETagBareCR, code: 1, check: malformedNotRetried},
	{name: "DownloadLocationWithControlChar_FailsForGoodNotRetried", attack: hostile.DownloadLocationControlChar, code: 1, check: malformedNotRetried},
	{name: "DownloadOddButValidHeaders_IgnoredStoredAsUsual", attack: hostile.DownloadOddHeaders, code: 0, check: allStored},
	{name: "ResumeWithGarbageContentRange_FailsForGoodNotSpliced", attack: hostile.DownloadContentRangeGarbage, code: 1, check: failedForGood("unreadable Content-Range")},
	{name: "ErrorEchoingTokenAndSecret_Redacted", attack: hostile.EchoSecrets, code: 1, check: browsingShowsNoSecret},
	{name: "DownloadErrorEchoingTokenAndSecret_RedactedInShowAndLs", attack: hostile.DownloadEchoSecrets, code: 1, check: all(failedForGood("client_secret="), browsingShowsNoSecret)},
	// Exit 1 (the windows failed, named), not yet the 2 the issue asks for.
	{name: "UnauthorizedAfterRenewal_IsACredentialErrorNotRetried", attack: hostile.Unauthorized, code: 2},
	{name: "EndlessPages_ListingFailsNotLoops", attack: hostile.EndlessPages, code: 1},
	{name: "RepeatedContinuation_ListingFailsNotLoops", attack: hostile.RepeatedContinuation, code: 1},
	{name: "EndlessUsersPage_ListingFailsAtTheJSONCapInBoundedMemory", attack: hostile.EndlessUsersPage, code: 1, check: peakRSSUnder(150 << 20)},
	// An endless listing page in each of four daily windows: the span is
	// read to the JSON cap and refused, then its halves, then the four
	// windows, each on its own and at once (the discover queue's four
	// workers); each fails at the cap, not retried, and peak RSS stays
	// near one window's worth (records past 64 KiB are bad records, not
	// kept: 4 windows of 200 KB records once took 404 MiB).
	{name: "EndlessListingPageInFourWindowsAtOnce_FailsAtTheCapInBoundedMemory", attack: hostile.EndlessListingPage, from: -2 * 24 * time.Hour, code: 1,
		check: all(windowsNotListed("cap on JSON responses"), peakRSSUnder(150<<20))},
	{name: "StartYear9999_BadRecordSkippedRestStored", attack: hostile.StartYear9999, code: 0, check: badRecordReported},
	{name: "TerminalEscapes_NeverReachTheTerminal", attack: hostile.TerminalEscapes, code: 0, check: noRawEscapes},
	{name: "ShortBodyWithItsOwnContentLength_FailsForGoodNotStored", fault: vccsim.FaultShortLength, code: 1},
	{name: "ChunkedShortBody_FailsForGoodNotStored", fault: vccsim.FaultChunkedShort, code: 1},
	// Each response is cut halfway, so each resume gets less: resumed at
	// once, then after 0.5 s and 1 s, and the attempt fails.
	{name: "CloseMidBodyOnEveryResponse_ResumesBoundedThenFailsForGood", fault: vccsim.FaultReset, code: 1,
		check: failedForGood("times in a row, each time before 64 KiB more came")},
	{name: "GzipContentEncoding_NotInflatedFailsForGood", fault: vccsim.FaultGzip, code: 1},
	{name: "PartialContentFromOffsetZero_FailsForGoodNotSpliced", fault: vccsim.FaultWrongRange, code: 1},
	{name: "HTMLErrorPageWith200_FailsForGoodNotStored", fault: vccsim.FaultHTML, code: 1},
	{name: "DripOneByteAtATime_NotStoredStopsOnCtrlC", fault: vccsim.FaultDrip, code: 130, interrupt: 2500 * time.Millisecond},
	// SIGTERM stops sync as Ctrl-C does: the dripping downloads get
	// --grace (1 s), then sync ends with 130, saying it was interrupted.
	{name: "DripOneByteAtATime_NotStoredStopsOnSIGTERMWithinGrace", fault: vccsim.FaultDrip, code: 130, interrupt: 2500 * time.Millisecond, sigterm: true,
		check: stoppedWithin(2500*time.Millisecond + time.Second + 3*time.Second)},
	// The suite's drip is a byte every 100 ms: never idle for the 300 ms
	// stall timeout, but under the floor of 1,000 bytes a second over it,
	// so a stall all the same: resumed with Range, stalling again each
	// time, until the attempt fails.
	{name: "DripUnderTheRateFloor_StallResumedWithRangeThenFailsForGood", fault: vccsim.FaultDrip, code: 1,
		args:  []string{"--stall-timeout", "300ms", "--min-rate", "1000"},
		check: all(failedForGood("under the floor of 1000 bytes/s"), resumedWithRange)},
	{name: "ListingAnswerNotHTTP_WindowFailsAtOnceNotRetried", attack: hostile.ListingContentLengthNotANumber, code: 1,
		check: all(windowsNotListed("not valid HTTP"), fewListings)},
	{name: "StatsPagesWithoutEnd_ListingFailsPastTheAnnouncedPagesBoundedInTimeAndMemory", attack: hostile.StatsEndlessPages, code: 1,
		check: all(windowsNotListed("pages"), fewRequests(vccsim.RouteStatsInteractions, 16), peakRSSUnder(150<<20))},
	{name: "StatsSamePageForever_ListingStopsAsARepeatEverythingStored", attack: hostile.StatsSamePageForever, code: 0,
		check: all(allStored, fewRequests(vccsim.RouteStatsInteractions, 8))},
	// The users never answer: the agent refresh gives up after
	// --agent-refresh-timeout, saying so, and the run ends instead of
	// waiting for the job's timeout.
	{name: "UsersNeverAnswer_AgentRefreshTimesOutRunEndsSayingSo", attack: hostile.UsersNeverAnswer, code: 3,
		args:  []string{"--agent-refresh-timeout", "1s"},
		check: endedSaying("took more than 1s", 20*time.Second)},
	// Bad local input: refused at once as configuration, nothing asked of
	// VCC for it, nothing stored lost.
	{name: "FromYearOne_RefusedAsConfigurationNotUnset", code: 2, args: []string{"--from", "0001-01-01"},
		check: endedSaying(`"0001-01-01" is outside 2000 to 2100`, 10*time.Second)},
	{name: "RangeOfMillionsOfWindows_RefusedAtOnceAsConfiguration", code: 2, args: []string{"--from", "2000-01-01", "--window", "1m"},
		check: all(endedSaying("windows of 1m0s, more than 1048576; use a larger window or a shorter range", 10*time.Second), fewListings)},
	{name: "UsersSamePageForever_ListingStopsAsARepeatEverythingStored", attack: hostile.UsersSamePageForever, code: 0,
		check: all(allStored, fewRequests(vccsim.RouteUsers, 4))},
	{name: "StatsDirectionNotAnEnum_UnknownInTheSidecarNeverRaw", attack: hostile.StatsDirectionNotAnEnum, code: 0, check: sidecarDirectionsAreTheEnum},
	{name: "BidiAndZeroWidthInIDsAndKeys_RefusedAsBadRecordsRestStored", attack: hostile.InvisibleCharsInIDs, code: 1, check: invisibleIDsRejected},
	{name: "InteractionReListedOnAnotherDay_KeepsItsFirstKeyDateOneSidecar", attack: hostile.ListingADayLate, code: 0, check: oneSidecarOnTheFirstDay},
	{name: "FailureOutsideTheSyncedRange_StillInTheSummaryExit1", fault: vccsim.FaultHTML, from: 36 * time.Hour, code: 1,
		check: all(failedForGood("text/html"), failedBeforeFrom)},
}

// all is every one of checks.
func all(checks ...func(*testing.T, *hostileRun)) func(*testing.T, *hostileRun) {
	return func(t *testing.T, h *hostileRun) {
		for _, c := range checks {
			c(t, h)
		}
	}
}

// notFollowed: no request reached where a redirect pointed (the suite
// checks for every case that none that did carried the credentials).
func notFollowed(t *testing.T, h *hostileRun) {
	for _, c := range h.captured {
		t.Errorf("the redirect was followed: %s %s reached the capture server", c.Method, c.Path)
	}
}

// failedForGood: the recordings served wrong failed for good, visibly: the
// summary counts and names them with an error that says why, and the
// catalog has them failed.
func failedForGood(why string) func(*testing.T, *hostileRun) {
	return func(t *testing.T, h *hostileRun) {
		n := catalogCount(t, h.dataDir, `SELECT COUNT(*) FROM recordings WHERE status = 'failed'`)
		if n == 0 {
			t.Errorf("the catalog has no failed recording")
		}
		if !strings.Contains(h.stdout, fmt.Sprintf("failed for good:     %d\n", n)) || !strings.Contains(h.stdout, why) {
			t.Errorf("the summary does not count the %d failed recordings or say %q:\n%s", n, why, h.stdout)
		}
	}
}

// windowsNotListed: the summary names windows that could not be listed,
// saying why.
func windowsNotListed(why string) func(*testing.T, *hostileRun) {
	return func(t *testing.T, h *hostileRun) {
		if !strings.Contains(h.stdout, "windows not listed:") || !strings.Contains(h.stdout, why) {
			t.Errorf("the summary does not name the windows not listed or say %q:\n%s", why, h.stdout)
		}
	}
}

// peakRSSUnder: the run's peak RSS stays under limit (the suite's guard
// is far looser), and is logged. Reading a 64 MiB users page to its cap
// peaks at 43-51 MiB; a binary built with -race carries the race
// detector's shadow memory too, so there the limit is doubled. Either
// catches the 570 MiB such a response once cost. (This limit was once
// raised for loaded CI runs that reported 180-209 MiB: that was the
// test process's own memory, which the child's rusage counts; watchRSS
// reads the child's alone.) BenchmarkListingPeakRSS (internal/vcc)
// measures such figures.
func peakRSSUnder(limit int64) func(*testing.T, *hostileRun) {
	return func(t *testing.T, h *hostileRun) {
		limit := limit
		if raceChild(t) {
			limit *= 2
		}
		t.Logf("peak RSS %d MiB", h.maxRSS>>20)
		if h.maxRSS > limit {
			t.Errorf("sync peaked at %d MiB RSS; want under %d MiB", h.maxRSS>>20, limit>>20)
		}
	}
}

// malformedNotRetried: the recordings fail for good as answers that are not
// HTTP, each asked for once (--attempts 1), not retried as network errors.
func malformedNotRetried(t *testing.T, h *hostileRun) {
	failedForGood("not valid HTTP")(t, h)
	failed := catalogCount(t, h.dataDir, `SELECT COUNT(*) FROM recordings WHERE status = 'failed'`)
	if h.downloads > int64(failed) {
		t.Errorf("%d download requests for %d recordings; want one each", h.downloads, failed)
	}
}

// allStored: no recording failed; every one is stored (the suite checks
// that what is stored is what VCC holds).
func allStored(t *testing.T, h *hostileRun) {
	if n := catalogCount(t, h.dataDir, `SELECT COUNT(*) FROM recordings WHERE status <> 'stored'`); n != 0 || !strings.Contains(h.stdout, "failed for good:     0\n") {
		t.Errorf("%d recordings are not stored:\n%s", n, h.stdout)
	}
}

// fewListings: a listing is not asked again and again.
func fewListings(t *testing.T, h *hostileRun) {
	if h.listings > 4 {
		t.Errorf("%d listing requests; want a few", h.listings)
	}
}

// catalogCount runs a COUNT query on the data dir's SQLite catalog.
func catalogCount(t *testing.T, dataDir, query string) int {
	t.Helper()
	return sqliteCount(t, filepath.Join(dataDir, "catalog.db"), query)
}

// sqliteCount is the count query gives on the SQLite catalog at path.
func sqliteCount(t *testing.T, path, query string) int {
	t.Helper()
	db, err := sql.Open("sqlite", "file:"+path+"?mode=ro")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var n int
	if err := db.QueryRow(query).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

// fewTokenRequests: a lifetime vccingest does not trust is clamped, so a
// run asks for about one token per scope, not one per call.
func fewTokenRequests(t *testing.T, h *hostileRun) {
	n := 0
	for _, r := range h.srv.Sim.Requests() {
		if strings.HasSuffix(r.Route, "/connect/token") {
			n += r.Count
		}
	}
	if n > 12 {
		t.Errorf("%d token requests in one run; want about one per scope", n)
	}
}

// noRawEscapes: names and directions full of ESC, OSC, C1 and bidi
// controls reach neither sync's output nor ls's.
func noRawEscapes(t *testing.T, h *hostileRun) {
	ls := exec.Command(bin(t), "ls", "--data-dir", h.dataDir)
	out, err := ls.CombinedOutput()
	if err != nil {
		t.Fatalf("ls: %v\n%s", err, out)
	}
	for name, text := range map[string]string{"sync stdout": h.stdout, "sync stderr": h.stderr, "ls": string(out)} {
		if strings.ContainsAny(text, "\x1b\x07\u009b\u202e\u200b") {
			t.Errorf("%s carries a raw control character:\n%q", name, text)
		}
	}
}

// browsingShowsNoSecret: what coverage, ls and show (--json too) print of
// the failed windows and recordings (their errors, which the server filled
// with the token and the secret) holds neither.
func browsingShowsNoSecret(t *testing.T, h *hostileRun) {
	db, err := sql.Open("sqlite", "file:"+filepath.Join(h.dataDir, "catalog.db")+"?mode=ro")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	runs := [][]string{{"coverage"}, {"ls"}, {"ls", "--json"}}
	var guid string
	switch err := db.QueryRow(`SELECT guid FROM recordings WHERE status = 'failed' ORDER BY guid LIMIT 1`).Scan(&guid); {
	case err == nil:
		runs = append(runs, []string{"show", "--json", guid}, []string{"show", guid})
	case !errors.Is(err, sql.ErrNoRows):
		t.Fatal(err)
	}
	var needles []string
	for _, c := range h.srv.Sim.Credentials() {
		needles = append(needles, c.ClientSecret)
	}
	needles = append(needles, h.srv.Sim.IssuedTokens()...)
	for _, args := range runs {
		out, err := exec.Command(bin(t), append(args, "--data-dir", h.dataDir)...).CombinedOutput()
		if err != nil {
			t.Fatalf("%s: %v\n%s", strings.Join(args, " "), err, out)
		}
		if args[0] == "show" && !strings.Contains(string(out), "failed") {
			t.Errorf("%s does not show the failure:\n%s", strings.Join(args, " "), out)
		}
		for _, n := range needles {
			if n != "" && strings.Contains(string(out), n) {
				t.Errorf("%s prints a secret or a token:\n%s", strings.Join(args, " "), out)
			}
		}
	}
}

// stoppedWithin: the run ended within d of its start (the signal's moment,
// --grace and some room), and said it was interrupted, with no error noise.
func stoppedWithin(d time.Duration) func(*testing.T, *hostileRun) {
	return func(t *testing.T, h *hostileRun) {
		if h.elapsed > d {
			t.Errorf("sync took %s to stop; want within %s", h.elapsed.Round(time.Millisecond), d)
		}
		if !strings.Contains(strings.ToLower(h.stdout+h.stderr), "interrupt") {
			t.Errorf("sync does not say it was interrupted:\n%s\n%s", h.stdout, h.stderr)
		}
		if strings.Contains(h.stderr, "database is closed") {
			t.Errorf("sync logged database is closed on its way out:\n%s", h.stderr)
		}
	}
}

// endedSaying: the run ended within d of its start, saying why.
func endedSaying(why string, d time.Duration) func(*testing.T, *hostileRun) {
	return func(t *testing.T, h *hostileRun) {
		if h.elapsed > d {
			t.Errorf("sync took %s; want it to end within %s", h.elapsed.Round(time.Millisecond), d)
		}
		if !strings.Contains(h.stdout+h.stderr, why) {
			t.Errorf("sync does not say %q:\n%s\n%s", why, h.stdout, h.stderr)
		}
	}
}

// badRecordReported: the record with a start vccingest cannot file is in
// the summary, named, not silently dropped.
func badRecordReported(t *testing.T, h *hostileRun) {
	if !strings.Contains(h.stdout, "could not fully use") || !strings.Contains(h.stdout, "9999-12-31") {
		t.Errorf("the summary does not name the year-9999 record:\n%s", h.stdout)
	}
}

// fewRequests: the simulator saw at most max requests of route in the run
// (a listing that repeats or never ends is stopped, not asked on).
func fewRequests(route string, max int) func(*testing.T, *hostileRun) {
	return func(t *testing.T, h *hostileRun) {
		n := 0
		for _, r := range h.srv.Sim.Requests() {
			if r.Route == route {
				n += r.Count
			}
		}
		t.Logf("%d requests of %s", n, route)
		if n > max {
			t.Errorf("%d requests of %s in one run; want at most %d", n, route, max)
		}
	}
}

// sidecars returns each interaction.json of the data dir's bucket by its
// path under the bucket, decoded.
func sidecars(t *testing.T, dataDir string) map[string]map[string]any {
	t.Helper()
	out := map[string]map[string]any{}
	blobs := filepath.Join(dataDir, "blobs")
	err := filepath.WalkDir(blobs, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || d.Name() != "interaction.json" {
			return err
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		var v map[string]any
		if err := json.Unmarshal(b, &v); err != nil {
			return fmt.Errorf("%s: %w", path, err)
		}
		rel, _ := filepath.Rel(blobs, path)
		out[filepath.ToSlash(rel)] = v
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// sidecarDirectionsAreTheEnum: a direction Stats does not document is
// recorded as unknown, never kept raw: every sidecar's direction is one of
// inbound, outbound, internal or unknown, and the strange one is in no
// sidecar; the summary reports the records it could not fully use.
func sidecarDirectionsAreTheEnum(t *testing.T, h *hostileRun) {
	allStored(t, h)
	unknown := 0
	for path, sc := range sidecars(t, h.dataDir) {
		d, _ := sc["direction"].(string)
		switch d {
		case "inbound", "outbound", "internal":
		case "unknown":
			unknown++
		default:
			t.Errorf("%s has direction %q; want inbound, outbound, internal or unknown", path, d)
		}
		if b, _ := json.Marshal(sc); strings.Contains(string(b), hostile.StrangeDirection) {
			t.Errorf("%s carries the raw direction %q", path, hostile.StrangeDirection)
		}
	}
	if unknown == 0 {
		t.Errorf("no sidecar has direction unknown; the strange direction was not refused")
	}
	if !strings.Contains(h.stdout, "could not fully use") {
		t.Errorf("the summary does not report the records with a strange direction:\n%s", h.stdout)
	}
}

// invisibleIDsRejected: an interaction id with a bidi override and a
// content key with a zero-width space are refused as unsafe for a storage
// key (recorded failed, counted in the summary), and nothing is stored
// under either (the suite checks every object in the bucket is one VCC
// holds under its real key).
func invisibleIDsRejected(t *testing.T, h *hostileRun) {
	ids := catalogCount(t, h.dataDir, `SELECT COUNT(*) FROM recordings WHERE status = 'failed' AND last_error LIKE 'rejected: the interaction id%invisible formatting character U+202E%'`)
	keys := catalogCount(t, h.dataDir, `SELECT COUNT(*) FROM recordings WHERE status = 'failed' AND last_error LIKE 'rejected: the content key%invisible formatting character U+200B%'`)
	if ids == 0 || keys == 0 {
		t.Errorf("%d recordings rejected for a bidi override in the interaction id, %d for a zero-width space in the content key; want some of each", ids, keys)
	}
	if !strings.Contains(h.stdout, "interactions rejected (unsafe ids): ") || strings.Contains(h.stdout, "interactions rejected (unsafe ids): 0\n") {
		t.Errorf("the summary does not count the rejected interactions:\n%s", h.stdout)
	}
	for path := range sidecars(t, h.dataDir) {
		if strings.ContainsAny(path, "\u202e\u200b") {
			t.Errorf("a sidecar is stored under %q", path)
		}
	}
}

// oneSidecarOnTheFirstDay: every interaction of day one, listed again with
// a start on day two, keeps day one as its key date: one sidecar each,
// under day one, none under day two (whose own calls the server no longer
// lists), and the catalog keeps their start on day one.
func oneSidecarOnTheFirstDay(t *testing.T, h *hostileRun) {
	byGUID := map[string][]string{}
	for path := range sidecars(t, h.dataDir) {
		parts := strings.Split(path, "/") // tenant/yyyy/mm/dd/guid/interaction.json
		if len(parts) == 6 {
			byGUID[parts[4]] = append(byGUID[parts[4]], path)
		}
		if strings.Contains(path, "/2024/03/05/") {
			t.Errorf("a sidecar under day two: %s", path)
		}
	}
	if len(byGUID) == 0 {
		t.Fatal("no sidecars")
	}
	for guid, paths := range byGUID {
		if len(paths) != 1 {
			t.Errorf("interaction %s has %d sidecars: %v", guid, len(paths), paths)
		}
	}
	if n := catalogCount(t, h.dataDir, `SELECT COUNT(*) FROM interactions WHERE start_at >= '2024-03-05'`); n != 0 {
		t.Errorf("%d interactions moved to day two in the catalog", n)
	}
	if h.listings == 0 {
		t.Errorf("no listing reached the hostile VCC")
	}
}

// failedBeforeFrom: the case proves something only if some recording that
// failed starts before the run's --from (in the first window, which is
// widened to the day boundary), outside the range the run was asked for.
func failedBeforeFrom(t *testing.T, h *hostileRun) {
	from := ""
	for i, a := range h.args {
		if a == "--from" && i+1 < len(h.args) {
			from = h.args[i+1]
		}
	}
	at, err := time.Parse(time.RFC3339, from)
	if err != nil {
		t.Fatalf("--from %q: %v", from, err)
	}
	n := catalogCount(t, h.dataDir, `SELECT COUNT(*) FROM recordings r JOIN interactions i ON i.tenant = r.tenant AND i.guid = r.guid
		WHERE r.status = 'failed' AND i.start_at < '`+at.UTC().Format("2006-01-02T15:04:05")+`'`)
	if n == 0 {
		t.Errorf("no failed recording starts before --from %s; the case proves nothing", from)
	}
}

// resumedWithRange: a download was resumed with Range (the simulator
// answered a 206).
func resumedWithRange(t *testing.T, h *hostileRun) {
	n := 0
	for _, r := range h.srv.Sim.Requests() {
		if r.Route == vccsim.RouteContent && r.Status == http.StatusPartialContent {
			n += r.Count
		}
	}
	t.Logf("%d downloads resumed with Range", n)
	if n == 0 {
		t.Errorf("no download was resumed with Range")
	}
}
