package eventstream

import (
	"encoding/base64"
	"errors"
	"strconv"
	"strings"
)

// cursorPrefix versions the cursor format, so it can change without breaking the
// cursors consumers have stored.
const cursorPrefix = "v1:"

// maxCursorLen bounds what DecodeCursor looks at: a valid cursor is far shorter.
const maxCursorLen = 64

// errBadCursor is DecodeCursor's error; the text is shown to clients.
var errBadCursor = errors.New("malformed cursor: pass back a cursor this service returned, or empty to start at the beginning of the retained log")

// EncodeCursor returns the cursor that resumes a subscription after the event with
// sequence number seq (0: before the first event). Clients treat cursors as opaque; the
// consumer library stores the sequence number and encodes it again.
func EncodeCursor(seq int64) string {
	return base64.RawURLEncoding.EncodeToString([]byte(cursorPrefix + strconv.FormatInt(seq, 10)))
}

// DecodeCursor returns the sequence number of a cursor made by EncodeCursor, or an
// error for anything else: it accepts exactly the strings EncodeCursor returns for
// seq >= 0.
func DecodeCursor(cursor string) (int64, error) {
	if cursor == "" || len(cursor) > maxCursorLen {
		return 0, errBadCursor
	}
	raw, err := base64.RawURLEncoding.Strict().DecodeString(cursor)
	if err != nil {
		return 0, errBadCursor
	}
	digits, ok := strings.CutPrefix(string(raw), cursorPrefix)
	if !ok || digits == "" || strings.TrimLeft(digits, "0123456789") != "" {
		return 0, errBadCursor
	}
	seq, err := strconv.ParseInt(digits, 10, 64)
	if err != nil || EncodeCursor(seq) != cursor { // also rejects leading zeros
		return 0, errBadCursor
	}
	return seq, nil
}
