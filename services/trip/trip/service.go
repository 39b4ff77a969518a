package trip

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"time"

	"github.com/waybill/waybill/kit/caller"
	"github.com/waybill/waybill/kit/errs"
	"github.com/waybill/waybill/kit/ids"
	"github.com/waybill/waybill/kit/page"
)

// Defaults of Options.
const (
	// DefaultFreeCancelWindow is how long after a driver was assigned a rider may cancel
	// without a cancellation fee.
	DefaultFreeCancelWindow = 2 * time.Minute
	// DefaultPendingTimeout is how old an unpublished request gets before the sweeper
	// undoes it; longer than a request's lease, so that a retry may resume it first.
	DefaultPendingTimeout = time.Minute
)

// SubStatusCancellationFeeDue is the sub-status trip sets on a trip cancelled by the
// rider late enough that the cancellation fee policy charges a fee (see Service.Cancel).
const SubStatusCancellationFeeDue = "cancellation_fee_due"

// Options configures a Service.
type Options struct {
	// Billing, Fare and Matching are the ports to the services trip calls. Required for
	// RequestTrip (and Matching for AssignDriver and the task runner).
	Billing  Billing
	Fare     Fare
	Matching Matching
	// Suspensions, when set, refuses ride requests of suspended accounts.
	Suspensions Suspensions
	// Match tunes the searches trip starts.
	Match MatchOptions
	// FreeCancelWindow is DefaultFreeCancelWindow when 0.
	FreeCancelWindow time.Duration
	// PendingTimeout is DefaultPendingTimeout when 0.
	PendingTimeout time.Duration
	// Hub is told about every change this service makes; nil for none.
	Hub *Hub
	// Now is the clock; time.Now when nil.
	Now func() time.Time
	// Logger logs background work; discarded when nil.
	Logger *slog.Logger
	// TaskWake, when set, is called after a change that owes matching a call commits,
	// to run the task runner at once.
	TaskWake func()
}

// Service is the trip service's use cases over a Store.
type Service struct {
	store Store
	opts  Options
	// deferWake: changes are made in a caller's transaction (InTx), which tells the
	// hub after its commit; before it, watchers would read the old state.
	deferWake bool
}

// New returns a service on store.
func New(store Store, opts Options) *Service {
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.FreeCancelWindow == 0 {
		opts.FreeCancelWindow = DefaultFreeCancelWindow
	}
	if opts.PendingTimeout == 0 {
		opts.PendingTimeout = DefaultPendingTimeout
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	return &Service{store: store, opts: opts}
}

// With returns a copy of s on another store: the same store bound to a consumer's
// transaction, say.
func (s *Service) With(store Store) *Service {
	c := *s
	c.store = store
	return &c
}

// InTx returns a copy of s on store bound to a caller's transaction (a consumer's)
// whose caller tells the hub about the changed trips after the commit: the copy does
// not tell it itself, which before the commit would only make watchers re-read the old
// state.
func (s *Service) InTx(store Store) *Service {
	c := s.With(store)
	c.deferWake = true
	return c
}

// Hub returns the service's hub (nil when none).
func (s *Service) Hub() *Hub { return s.opts.Hub }

// clock returns the current time, truncated to microseconds as PostgreSQL stores it.
func (s *Service) clock() time.Time { return s.opts.Now().UTC().Truncate(time.Microsecond) }

// mayView reports whether c may see t: privileged callers, the trip's rider, and its
// assigned driver.
func mayView(c caller.Caller, t Trip) bool {
	return c.Privileged() || (c.Role == caller.Customer && c.Subject == t.CustomerID) ||
		(t.DriverID != "" && c.IsDriver(t.DriverID))
}

// visible returns t, or NOT_FOUND when c may not see it: someone else's trip looks
// missing.
func visible(c caller.Caller, t Trip) (Trip, error) {
	if !mayView(c, t) {
		return Trip{}, notFound(t.ID)
	}
	return t, nil
}

// Get returns trip id in view as c may see it.
func (s *Service) Get(ctx context.Context, c caller.Caller, id string, view View) (Trip, error) {
	if err := ids.Check("trip_id", id); err != nil {
		return Trip{}, err
	}
	t, err := s.store.Trip(ctx, id, view)
	if err != nil {
		return Trip{}, fmt.Errorf("get trip: %w", err)
	}
	t, err = visible(c, t)
	if err != nil {
		return Trip{}, err
	}
	return shape(t, view), nil
}

// shape drops what view does not return.
func shape(t Trip, view View) Trip {
	if view < ViewStandard {
		t.Timeline = nil
	}
	if view < ViewFull {
		t.Route = nil
	}
	return t
}

// List returns a page of trips c may see, newest first.
func (s *Service) List(ctx context.Context, c caller.Caller, f Filter, view View, pageToken string, pageSize int32) (Page, error) {
	var v errs.Violations
	v.Check(pageSize >= 0 && pageSize <= MaxPageSize, "page_size", "must be from 0 to %d", MaxPageSize)
	v.Check(f.Status == "" || f.Status.Valid(), "status", "is not a known status")
	if err := v.Err(); err != nil {
		return Page{}, err
	}
	switch {
	case c.Privileged():
	case c.Role == caller.Customer:
		if f.CustomerID != "" && f.CustomerID != c.Subject {
			return Page{}, errs.Denied("", "a rider may only list their own trips")
		}
		f.CustomerID = c.Subject
	case c.Role == caller.Driver:
		if f.DriverID != "" && f.DriverID != c.Subject {
			return Page{}, errs.Denied("", "a driver may only list the trips assigned to them")
		}
		f.DriverID = c.Subject
	default:
		return Page{}, errs.Denied("", "only riders, drivers, operators and services may list trips")
	}
	limit, err := page.Limit(int(pageSize), DefaultPageSize, MaxPageSize)
	if err != nil {
		return Page{}, err
	}
	filter := page.Fingerprint("ListTrips", f.CustomerID, f.DriverID, string(f.Status))
	var cur Cursor
	ok, err := page.Decode(pageToken, filter, &cur)
	if err != nil {
		return Page{}, err
	}
	if ok && (cur.CreateTime.IsZero() || !ids.ValidUUID(cur.ID)) {
		return Page{}, errs.Invalid("page_token", "is malformed; pass the next_page_token of the previous page")
	}
	var after *Cursor
	if ok {
		after = &cur
	}
	trips, err := s.store.ListTrips(ctx, f, after, limit+1)
	if err != nil {
		return Page{}, fmt.Errorf("list trips: %w", err)
	}
	var p Page
	if len(trips) > limit {
		trips = trips[:limit]
		last := trips[limit-1]
		p.NextPageToken = page.Encode(Cursor{CreateTime: last.CreateTime, ID: last.ID}, filter)
	}
	for i := range trips {
		trips[i] = shape(trips[i], min(view, ViewStandard))
	}
	p.Trips = trips
	return p, nil
}

// Terminal reports whether a watch of t ends after sending it: a cancelled trip, or an
// ended one whose final fare is set.
func Terminal(t Trip) bool {
	return t.Status == StatusCancelled || (t.Status == StatusEnded && t.FinalFare != nil)
}
