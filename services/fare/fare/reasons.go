package fare

import (
	"github.com/waybill/waybill/kit/caller"
	"github.com/waybill/waybill/kit/errs"
)

// The reasons of fare's own errors (ErrorInfo.reason); every other error carries its
// kind's name (kit/errs).
const (
	// ReasonStaleVersion is the reason of the ABORTED error for a write that named a
	// version (of a rate card or a surge) that is no longer the latest: re-read and retry.
	ReasonStaleVersion = "STALE_VERSION"
)

// stale returns the ABORTED error of a write that named a version other than the latest.
func stale(what string, given, latest int64) error {
	return errs.Abort(ReasonStaleVersion, "%s version %d given, the latest is %d: read it again and retry", what, given, latest)
}

// mayWrite returns PERMISSION_DENIED unless c may change rate cards and surges:
// operators and services.
func mayWrite(c caller.Caller) error {
	if !c.Privileged() {
		return errs.Denied("", "only operators and services may change rate cards and surges")
	}
	return nil
}
