package vccsim

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/vccingest/vccingest/internal/vccsim/dataset"
)

// A v3 continuation token is opaque to the client. This one holds where the
// previous page ended (the last item's start and GUID, so that content
// arriving between pages neither repeats nor skips items) and a hash of the
// query it belongs to, sealed with an HMAC so that it cannot be edited: a
// token is good only for the next page of the query that issued it.
//
// Layout before base64url: binding (8 bytes) | start, Unix ns (8) | GUID | MAC (12).

const (
	cursorBinding = 8
	cursorMAC     = 12
)

// cursor is an opened continuation token.
type cursor struct {
	start time.Time
	guid  string
}

// binding is a hash of every parameter that shapes the result, so that a
// token used with another window, limit or filter is refused.
func binding(q search) []byte {
	h := sha256.Sum256([]byte(strings.Join([]string{
		q.start.Format(time.RFC3339Nano), q.end.Format(time.RFC3339Nano), strconv.Itoa(q.limit),
		q.connectFrom, q.connect, q.agent, q.direction,
	}, "\x00")))
	return h[:cursorBinding]
}

func (s *Sim) mac(payload []byte) []byte {
	m := hmac.New(sha256.New, s.cursorKey)
	m.Write(payload)
	return m.Sum(nil)[:cursorMAC]
}

// sealCursor is the token of the page after last.
func (s *Sim) sealCursor(q search, last *dataset.Interaction) string {
	b := append([]byte(nil), binding(q)...)
	b = binary.BigEndian.AppendUint64(b, uint64(last.Start.UnixNano()))
	b = append(b, last.GUID...)
	b = append(b, s.mac(b)...)
	return base64.RawURLEncoding.EncodeToString(b)
}

// openCursor checks a token against the query it came with.
func (s *Sim) openCursor(tok string, q search) (*cursor, error) {
	b, err := base64.RawURLEncoding.DecodeString(tok)
	if err != nil || len(b) < cursorBinding+8+cursorMAC {
		return nil, paramError{"The continuationToken is not valid."}
	}
	payload, mac := b[:len(b)-cursorMAC], b[len(b)-cursorMAC:]
	if !hmac.Equal(mac, s.mac(payload)) {
		return nil, paramError{"The continuationToken is not valid."}
	}
	if !hmac.Equal(payload[:cursorBinding], binding(q)) {
		return nil, paramError{"The continuationToken does not belong to these parameters: keep start, end, limit and the filters of the first page."}
	}
	ns := int64(binary.BigEndian.Uint64(payload[cursorBinding:]))
	return &cursor{start: time.Unix(0, ns).UTC(), guid: string(payload[cursorBinding+8:])}, nil
}

// position is the index of the first of items (in start, GUID order) after
// the cursor.
func (c *cursor) position(items []*dataset.Interaction) int {
	return sort.Search(len(items), func(i int) bool {
		it := items[i]
		return it.Start.After(c.start) || (it.Start.Equal(c.start) && it.GUID > c.guid)
	})
}
