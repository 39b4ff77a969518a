package idempotency

import (
	"crypto/sha256"
	"strconv"
	"time"

	"github.com/waybill/waybill/kit/errs"
)

// How long keys and leases last unless the store is configured otherwise
// (idempotencypg.Options).
const (
	// DefaultTTL is how long a key is kept: a retry within it replays the first result,
	// a call after it runs again.
	DefaultTTL = 24 * time.Hour
	// DefaultLease is how long an in-flight leased key belongs to its attempt.
	DefaultLease = 30 * time.Second
)

// MaxRequestID is the longest request id, in bytes.
const MaxRequestID = 128

// The reasons of the errors a claim returns.
const (
	// ReasonRequestIDReused is the reason of the INVALID_ARGUMENT error (field
	// request_id) for a key used before with other parameters.
	ReasonRequestIDReused = "REQUEST_ID_REUSED"
	// ReasonRequestInProgress is the reason of the ABORTED error for a retry while the
	// first call with the key is still running.
	ReasonRequestInProgress = "REQUEST_IN_PROGRESS"
)

// ErrRequestIDReused and ErrRequestInProgress match, with errors.Is, the errors a claim
// returns for a key reused with other parameters and for a key still in flight.
var (
	ErrRequestIDReused   error = &errs.Error{Kind: errs.InvalidArgument, Reason: ReasonRequestIDReused}
	ErrRequestInProgress error = &errs.Error{Kind: errs.Aborted, Reason: ReasonRequestInProgress}
)

// Key identifies one idempotent call: its scope (Method and Subject), the caller's
// RequestID, and a digest of its parameters. A Key with an empty RequestID claims
// nothing: the call runs every time and stores nothing.
type Key struct {
	// Method is the mutation, usually the RPC's name ("CreateBill").
	Method string
	// Subject is the caller's identity (caller.Caller.Subject): two callers' equal
	// request ids are different keys.
	Subject string
	// RequestID is the caller's idempotency key; see CheckRequestID.
	RequestID string
	// Hash is a digest of the call's parameters (Fingerprint, or a keyed hash when they
	// are secret): the same RequestID with another Hash is refused with
	// REQUEST_ID_REUSED.
	Hash []byte
}

// Fingerprint returns a digest of a call's parameters for Key.Hash: SHA-256 of each part,
// length-prefixed so that ("ab", "c") and ("a", "bc") differ. Format numbers, times and
// enums into parts explicitly (strconv, time.Format), in a fixed order.
func Fingerprint(parts ...string) []byte {
	h := sha256.New()
	for _, p := range parts {
		h.Write(strconv.AppendInt(nil, int64(len(p)), 10))
		h.Write([]byte{':'})
		h.Write([]byte(p))
	}
	return h.Sum(nil)
}

// CheckRequestID checks a request id: at most MaxRequestID printable ASCII characters.
// An empty id passes unless required. The error is INVALID_ARGUMENT on field request_id.
func CheckRequestID(id string, required bool) error {
	if id == "" {
		if required {
			return errs.Invalid("request_id", "is required")
		}
		return nil
	}
	if len(id) > MaxRequestID {
		return errs.Invalid("request_id", "must be at most %d characters", MaxRequestID)
	}
	for i := 0; i < len(id); i++ {
		if id[i] < 0x20 || id[i] > 0x7e {
			return errs.Invalid("request_id", "must be printable ASCII")
		}
	}
	return nil
}
