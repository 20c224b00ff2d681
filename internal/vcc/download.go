package vcc

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"strconv"
	"strings"
)

// identity asks for a download's bytes as stored. With an explicit
// Accept-Encoding Go's transport does not inflate a compressed body (and
// the client's own transport has compression off besides); a server that
// answers with another Content-Encoding all the same is refused (see
// check), so what is hashed and stored is what VCC holds, and a small
// compressed body cannot grow into a huge file.
var identity = http.Header{"Accept-Encoding": {"identity"}}

// Content is a content item being downloaded. Reads resume a broken or
// stalled transfer with a Range request, so a caller sees one stream of
// exactly Size bytes, or an error.
//
// When the listing gave the item's contentLength, nothing else is
// accepted: a response that announces another size, ends early, or goes on
// past it fails the download (at most Size+1 bytes are read), as does a
// compressed body, a media type that does not fit the item, or a 206 for
// another range than the one asked for. Every such error names what was
// wrong; none is retried here (another attempt of the caller's may find
// VCC well again).
type Content struct {
	// Size is the listed contentLength, else the size the server announced;
	// -1 if neither said.
	Size int64
	// ContentType is the Content-Type served.
	ContentType string

	ctx    context.Context
	c      *Client
	k      call
	item   ContentItem
	listed bool // Size is the listing's
	body   *watchedBody
	off    int64  // bytes read so far
	at     int64  // where the current response starts (its Range)
	tail   []byte // the last bytes read, up to resumeOverlap
	resume int    // resumes so far
	mark   int64  // r.off when the current response began passing on new bytes
	poor   int    // transfers in a row that broke before minProgress new bytes
	err    error  // io.EOF or the error that ended the download
}

// A transfer that breaks is resumed, but not for ever. One that passed on
// at least minProgress new bytes made progress, and its resume goes at
// once; maxPoorBreaks transfers in a row that broke with less fail the
// download (the caller's attempt), after backoffs of about 0.5, 1 and 2
// times MinBackoff: a server that cuts every response short (halfway, say,
// so that each resume gets less) or drips would otherwise be resumed with
// a growing backoff for a minute or more per attempt. maxResumes bounds
// all resumes of one download, progress or not.
const (
	minProgress   = 64 << 10
	maxPoorBreaks = 4
	maxResumes    = 64
)

// resumeOverlap is how much of what was read a resume asks for again and
// compares: a server that answers a Range request with other bytes (from
// offset 0 under a correct Content-Range, say) is caught before a single
// spliced byte is passed on.
const resumeOverlap = 4 << 10

// Open starts downloading item (as listed) of interaction guid. The item's
// Key names it; its Length (if not 0), ContentType and Type are what the
// download is held to.
func (c *Client) Open(ctx context.Context, guid string, item ContentItem) (*Content, error) {
	r := &Content{
		Size: -1, ctx: ctx, c: c, item: item,
		k: call{api: apiContent, path: []string{"interactions", guid, "content", item.Key}, header: identity.Clone(), purpose: PurposeDownload},
	}
	if item.Length > 0 {
		r.Size, r.listed = item.Length, true
	}
	if err := r.open(); err != nil {
		return nil, err
	}
	return r, nil
}

// Read reads the content, resuming with Range after a broken or stalled
// transfer.
func (r *Content) Read(p []byte) (int, error) {
	if r.err != nil {
		return 0, r.err
	}
	if r.Size >= 0 {
		// Never more than one byte past the end: that byte shows a body
		// longer than the content, and goes no further.
		p = p[:min(int64(len(p)), r.Size+1-r.off)]
	}
	for {
		if r.body == nil {
			if err := r.reopen(); err != nil {
				return 0, r.end(err)
			}
		}
		n, err := r.body.Read(p)
		if r.Size >= 0 && r.off+int64(n) > r.Size {
			n = int(r.Size - r.off)
			r.off = r.Size
			return n, r.end(r.fail("served more than the %d %s bytes", r.Size, r.sizeFrom()))
		}
		r.off += int64(n)
		r.keep(p[:n])
		switch {
		case err == nil:
			return n, nil
		case errors.Is(err, io.EOF) && (r.Size < 0 || r.off == r.Size):
			return n, r.end(io.EOF)
		case errors.Is(err, io.EOF):
			// The body ended as its framing says (a chunked or
			// close-delimited body, or a 206 of less than the rest), short.
			return n, r.end(r.fail("served %d of %d %s bytes", r.off, r.Size, r.sizeFrom()))
		case r.ctx.Err() != nil:
			return n, r.end(r.ctx.Err())
		}
		// Cut off or stalled: resume from r.off on the next read.
		r.closeBody()
		if r.off-r.mark >= minProgress {
			r.poor = 0
		} else {
			r.poor++
		}
		switch {
		case r.poor >= maxPoorBreaks:
			return n, r.end(r.fail("transfer broke at byte %d of %d %d times in a row, each time before %d KiB more came: %w", r.off, r.Size, r.poor, minProgress>>10, unexpected(err)))
		case r.resume >= maxResumes:
			return n, r.end(r.fail("transfer broke at byte %d of %d %d times: %w", r.off, r.Size, r.resume+1, unexpected(err)))
		}
		r.c.log.Debug("VCC download broke; resuming with Range", "path", r.k.logPath(), "offset", r.off, "size", r.Size, "error", err)
		if n > 0 {
			return n, nil
		}
	}
}

// keep remembers the last resumeOverlap bytes read.
func (r *Content) keep(b []byte) {
	if len(b) >= resumeOverlap {
		r.tail = append(r.tail[:0], b[len(b)-resumeOverlap:]...)
		return
	}
	if drop := len(r.tail) + len(b) - resumeOverlap; drop > 0 {
		r.tail = r.tail[:copy(r.tail, r.tail[drop:])]
	}
	r.tail = append(r.tail, b...)
}

// end closes the body and makes err the answer to every later Read.
func (r *Content) end(err error) error {
	r.closeBody()
	r.err = err
	return err
}

func (r *Content) sizeFrom() string {
	if r.listed {
		return "listed"
	}
	return "announced"
}

// what names the item in errors: its type, else its key.
func (r *Content) what() string { return cmpOr(r.item.Type, r.item.Key) }

func (r *Content) fail(format string, a ...any) error {
	return fmt.Errorf("VCC content API: GET %s: "+format, append([]any{r.k.logPath()}, a...)...)
}

func unexpected(err error) error {
	if errors.Is(err, io.EOF) {
		return io.ErrUnexpectedEOF
	}
	return err
}

// reopen asks for the rest of the content from r.off: at once after a
// transfer that made progress or the first that did not, after a growing
// backoff from the second transfer in a row that did not.
func (r *Content) reopen() error {
	r.resume++
	if r.poor > 1 {
		if err := sleep(r.ctx, r.c.backoff(r.poor-1, 0)); err != nil {
			return err
		}
	}
	return r.open()
}

// open sends the request for the content from r.off (a Range request from
// the last bytes read on, if r.off > 0), checks the response, starts
// watching its body for stalls and checks that it serves again the bytes
// already read.
func (r *Content) open() error {
	k := r.k
	r.at = r.off - int64(len(r.tail))
	if r.off > 0 {
		k.header = k.header.Clone()
		k.header.Set("Range", "bytes="+strconv.FormatInt(r.at, 10)+"-")
	}
	// The request's own context: the stall watchdog cancels it, not the
	// caller's. A resume counts as a request sent again.
	base := r.ctx
	if r.resume > 0 {
		base = asResend(base)
	}
	reqCtx, cancel := context.WithCancelCause(base)
	resp, err := r.c.do(reqCtx, k)
	if err != nil {
		cancel(nil)
		return err
	}
	if err := r.check(resp); err != nil {
		drain(resp)
		cancel(nil)
		return err
	}
	r.ContentType = resp.Header.Get("Content-Type")
	r.body = watch(reqCtx, cancel, resp.Body, r.c.stall)
	r.mark = r.off
	if r.off == 0 {
		return nil
	}
	if resp.StatusCode == http.StatusOK {
		// Range ignored: skip to the overlap (through the watched body, so
		// a stall here is one too).
		if _, err := io.CopyN(io.Discard, r.body, r.at); err != nil {
			r.closeBody()
			return r.fail("skipping the first %d bytes of a 200 to a Range request: %w", r.at, unexpected(err))
		}
	}
	again := make([]byte, len(r.tail))
	if _, err := io.ReadFull(r.body, again); err != nil {
		r.closeBody()
		return r.fail("resuming at byte %d: %w", r.at, unexpected(err))
	}
	if !bytes.Equal(again, r.tail) {
		r.closeBody()
		return r.fail("resumed from offset %d with other bytes than the first response had there: the server does not serve the range asked for", r.at)
	}
	return nil
}

// check refuses a response whose bytes cannot be the item's, or not the
// ones from r.off on.
func (r *Content) check(resp *http.Response) error {
	if ce := resp.Header.Get("Content-Encoding"); resp.Uncompressed || (ce != "" && !strings.EqualFold(ce, "identity")) {
		return r.fail("served Content-Encoding %q for a %s, asked for identity: refused, since its bytes are not the recording's", truncate(cmpOr(ce, "gzip"), 40), r.what())
	}
	if err := mediaFits(resp.Header.Get("Content-Type"), r.item); err != nil {
		return r.fail("%w", err)
	}
	total := int64(-1) // the content's size as the response says
	switch resp.StatusCode {
	case http.StatusOK:
		total = resp.ContentLength
	case http.StatusPartialContent:
		cr := resp.Header.Get("Content-Range")
		first, last, size, ok := parseContentRange(cr)
		switch {
		case r.off == 0:
			return r.fail("206 Partial Content (Content-Range %q) to a request without Range", truncate(cr, 80))
		case !ok:
			return r.fail("206 with an unreadable Content-Range %q, asked from byte %d", truncate(cr, 80), r.at)
		case first != r.at:
			return r.fail("206 from offset %d, asked %d", first, r.at)
		case size >= 0 && last+1 != size:
			return r.fail("206 of bytes %d-%d of %d, asked for all from %d", first, last, size, r.at)
		case resp.ContentLength >= 0 && resp.ContentLength != last-first+1:
			return r.fail("206 of bytes %d-%d with a Content-Length of %d", first, last, resp.ContentLength)
		case size < 0 && r.Size >= 0 && last+1 != r.Size:
			return r.fail("206 of bytes %d-%d/*, asked for all from %d of %d", first, last, r.at, r.Size)
		}
		total = size
	default:
		return r.fail("served %d %s for a %s, want 200 OK", resp.StatusCode, http.StatusText(resp.StatusCode), r.what())
	}
	switch {
	case total < 0:
	case r.Size < 0:
		r.Size = total
	case total != r.Size && r.listed && resp.StatusCode == http.StatusOK:
		return r.fail("served Content-Length %d for %d listed bytes", total, r.Size)
	case total != r.Size && r.listed:
		return r.fail("206 of a %d-byte content, %d listed", total, r.Size)
	case total != r.Size:
		return r.fail("the content changed size during the download (%d, now %d bytes)", r.Size, total)
	}
	return nil
}

// parseContentRange parses "bytes first-last/size"; size is -1 for "*".
func parseContentRange(v string) (first, last, size int64, ok bool) {
	spec, found := strings.CutPrefix(v, "bytes ")
	rng, sz, found2 := strings.Cut(spec, "/")
	a, b, found3 := strings.Cut(rng, "-")
	if !found || !found2 || !found3 {
		return 0, 0, 0, false
	}
	var err1, err2, err3 error
	first, err1 = strconv.ParseInt(a, 10, 64)
	last, err2 = strconv.ParseInt(b, 10, 64)
	size = -1
	if sz != "*" {
		size, err3 = strconv.ParseInt(sz, 10, 64)
	}
	if err1 != nil || err2 != nil || err3 != nil || first < 0 || last < first || (size >= 0 && last >= size) {
		return 0, 0, 0, false
	}
	return first, last, size, true
}

// mediaKinds are the item types whose content is audio or video (the docs:
// a call recording is "audio or video", IVR audio comes "in video file
// format" by one page and audio/wav by another).
var mediaKinds = map[string]bool{
	"callRecording": true, "voicemail": true, "ivrAudioRecording": true,
	"screenRecording": true, "videoRecording": true,
}

// mediaFits checks a download's Content-Type against the item as listed.
// The docs say the Content-Type defines the type served (audio/wav for call
// recordings and voicemail, video for screen and IVR recordings): an item
// listed as audio or video (or, unlisted, of a recording type) must come as
// audio/* or video/*, anything else as the type listed. Whether VCC ever
// labels a recording application/octet-stream, or not at all, the docs
// leave open; both are accepted, as RFC 9110 §8.3 reads a missing type as
// octet-stream (the simulator's Readings.OctetStreamDownloads). An HTML,
// JSON or text page where a recording was listed is refused.
func mediaFits(served string, item ContentItem) error {
	if strings.TrimSpace(served) == "" {
		return nil
	}
	got, _, err := mime.ParseMediaType(served)
	if err != nil {
		return fmt.Errorf("served an unreadable Content-Type %q for a %s", truncate(served, 80), cmpOr(item.Type, item.Key))
	}
	if got == "application/octet-stream" {
		return nil
	}
	want, _, _ := mime.ParseMediaType(item.ContentType)
	media := func(t string) bool { return strings.HasPrefix(t, "audio/") || strings.HasPrefix(t, "video/") }
	switch {
	case media(want) || (want == "" && mediaKinds[item.Type]):
		if media(got) {
			return nil
		}
	case want == "" || got == want:
		return nil
	}
	listed := ""
	if item.ContentType != "" {
		listed = fmt.Sprintf(" (listed %s)", truncate(item.ContentType, 80))
	}
	return fmt.Errorf("served %s for a %s%s", truncate(got, 80), cmpOr(item.Type, item.Key), listed)
}

// closeBody closes the current body, if any, and stops its watchdog.
func (r *Content) closeBody() {
	if r.body != nil {
		r.body.Close()
		r.body = nil
	}
}

// Close stops the download.
func (r *Content) Close() error {
	if r.body != nil {
		err := r.body.Close()
		r.body = nil
		return err
	}
	return nil
}

// CheckDownload asks for the first byte of a content item (Range
// bytes=0-0), as a download would, and reads it: a refusal that only
// downloads meet (an Accept rule, a download permission) shows before the
// first sync. It returns the content's size if the server said.
func (c *Client) CheckDownload(ctx context.Context, guid, contentKey string) (size int64, err error) {
	k := call{api: apiContent, path: []string{"interactions", guid, "content", contentKey}, header: http.Header{"Range": {"bytes=0-0"}, "Accept-Encoding": {"identity"}}, purpose: PurposeDownload}
	resp, err := c.do(ctx, k)
	if err != nil {
		return 0, err
	}
	defer drain(resp)
	size = resp.ContentLength
	if cr := resp.Header.Get("Content-Range"); resp.StatusCode == http.StatusPartialContent && strings.Contains(cr, "/") {
		size, _ = strconv.ParseInt(cr[strings.LastIndexByte(cr, '/')+1:], 10, 64)
	}
	if _, err := io.ReadFull(resp.Body, make([]byte, 1)); err != nil {
		return 0, fmt.Errorf("VCC content API: GET %s: no byte came back: %w", k.logPath(), unexpected(err))
	}
	return size, nil
}
