package main

import (
	"os/exec"
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
	{name: "DownloadRedirectOtherPort_TokenNotSent", attack: hostile.DownloadRedirectOtherPort, code: 1},
	{name: "DownloadRedirectFile_RefusedNotRetried", attack: hostile.DownloadRedirectFile, code: 1},
	{name: "DownloadRedirectLoop_RefusedNotRetried", attack: hostile.DownloadRedirectLoop, code: 1},
	{name: "ErrorEchoingTokenAndSecret_Redacted", attack: hostile.EchoSecrets, code: 1},
	// Exit 1 (the windows failed, named), not yet the 2 the issue asks for.
	{name: "UnauthorizedAfterRenewal_IsACredentialErrorNotRetried", attack: hostile.Unauthorized, code: 2},
	{name: "EndlessPages_ListingFailsNotLoops", attack: hostile.EndlessPages, code: 1},
	{name: "RepeatedContinuation_ListingFailsNotLoops", attack: hostile.RepeatedContinuation, code: 1},
	{name: "StartYear9999_BadRecordSkippedRestStored", attack: hostile.StartYear9999, code: 0, check: badRecordReported},
	{name: "TerminalEscapes_NeverReachTheTerminal", attack: hostile.TerminalEscapes, code: 0, check: noRawEscapes},
	{name: "ShortBodyWithItsOwnContentLength_FailsForGoodNotStored", fault: vccsim.FaultShortLength, code: 1},
	{name: "ChunkedShortBody_FailsForGoodNotStored", fault: vccsim.FaultChunkedShort, code: 1},
	{name: "CloseMidBody_NotStoredStopsOnCtrlC", fault: vccsim.FaultReset, code: 130, interrupt: 2500 * time.Millisecond}, // each attempt resumes with backoff for longer than the case may take
	{name: "GzipContentEncoding_NotInflatedFailsForGood", fault: vccsim.FaultGzip, code: 1},
	{name: "PartialContentFromOffsetZero_FailsForGoodNotSpliced", fault: vccsim.FaultWrongRange, code: 1},
	{name: "HTMLErrorPageWith200_FailsForGoodNotStored", fault: vccsim.FaultHTML, code: 1},
	{name: "DripOneByteAtATime_NotStoredStopsOnCtrlC", fault: vccsim.FaultDrip, code: 130, interrupt: 2500 * time.Millisecond},
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
	ls := exec.Command(binPath, "ls", "--data-dir", h.dataDir)
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

// badRecordReported: the record with a start vccingest cannot file is in
// the summary, named, not silently dropped.
func badRecordReported(t *testing.T, h *hostileRun) {
	if !strings.Contains(h.stdout, "could not fully use") || !strings.Contains(h.stdout, "9999-12-31") {
		t.Errorf("the summary does not name the year-9999 record:\n%s", h.stdout)
	}
}
