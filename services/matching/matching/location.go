package matching

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/waybill/waybill/kit/caller"
	"github.com/waybill/waybill/kit/errs"
	"github.com/waybill/waybill/kit/ids"
)

// UpdateLocation records one fix of driver id, for the driver themselves, operators and
// services. A fix not newer than the driver's last location is ignored (Accepted false),
// which makes the call naturally idempotent. The fix is searchable at once and persisted
// with the next batch.
func (s *Service) UpdateLocation(ctx context.Context, c caller.Caller, id string, f Fix) (Located, error) {
	if err := ids.Check("driver_id", id); err != nil {
		return Located{}, err
	}
	if err := mayActFor(c, id); err != nil {
		return Located{}, err
	}
	if err := CheckFix("location", f, s.now()); err != nil {
		return Located{}, err
	}
	return s.locate(ctx, id, f)
}

// errOffline is the error for a fix of an OFFLINE driver.
func errOffline() error {
	return errs.Precondition(ReasonDriverOffline, "the driver is OFFLINE: offline drivers are not tracked; go online first")
}

// locate gives f, in microseconds, to the index; when the index does not track driver
// id (not seen yet, or OFFLINE as far as it knows), it asks storage first.
func (s *Service) locate(ctx context.Context, id string, f Fix) (Located, error) {
	f.Time = f.Time.UTC().Truncate(time.Microsecond) // as PostgreSQL keeps it
	if got, ok := s.index.Locate(id, f); ok {
		return got, nil
	}
	d, err := s.store.Driver(ctx, id)
	if err != nil {
		return Located{}, fmt.Errorf("update driver location: %w", err)
	}
	s.index.Apply(tracked(d))
	if d.Status == StatusOffline {
		return Located{}, errOffline()
	}
	if got, ok := s.index.Locate(id, f); ok {
		return got, nil
	}
	return Located{}, errOffline() // went offline meanwhile
}

// LocationStream is one StreamDriverLocations call: fixes of one driver, each accepted
// or counted as rejected (invalid, not newer than the last, or sent while OFFLINE).
type LocationStream struct {
	s        *Service
	c        caller.Caller
	driverID string
	accepted int32
	rejected int32
	// offlineUntil: the driver was OFFLINE in storage when last asked; until then
	// fixes are rejected without asking again.
	offlineUntil time.Time
}

// offlineRecheck is how long a stream trusts that its driver is OFFLINE before asking
// storage again.
const offlineRecheck = time.Second

// LocationStream starts a location stream for caller c.
func (s *Service) LocationStream(c caller.Caller) *LocationStream {
	return &LocationStream{s: s, c: c}
}

// Next takes one message of the stream: the driver's id and the fix, nil when it is
// missing or malformed. It returns an error, which ends the stream, only for an empty
// driver id or one other than the first message's, a driver the caller may not act for,
// or an unknown driver; fixes accepted before stay recorded.
func (ls *LocationStream) Next(ctx context.Context, driverID string, f *Fix) error {
	switch {
	case driverID == "":
		return errs.Invalid("driver_id", "is required in every message")
	case ls.driverID == "":
		if err := ids.Check("driver_id", driverID); err != nil {
			return err
		}
		if err := mayActFor(ls.c, driverID); err != nil {
			return err
		}
		d, err := ls.s.store.Driver(ctx, driverID) // once per stream: the driver must exist
		if err != nil {
			return fmt.Errorf("stream driver locations: %w", err)
		}
		ls.s.index.Apply(tracked(d))
		ls.driverID = driverID
	case driverID != ls.driverID:
		return errs.Invalid("driver_id", "must be the same in every message of a stream: the first was %s", ls.driverID)
	}
	now := ls.s.now()
	if f == nil || CheckFix("location", *f, now) != nil || now.Before(ls.offlineUntil) {
		ls.rejected++
		return nil
	}
	got, err := ls.s.locate(ctx, ls.driverID, *f)
	switch {
	case errors.Is(err, &errs.Error{Kind: errs.FailedPrecondition, Reason: ReasonDriverOffline}):
		ls.offlineUntil = now.Add(offlineRecheck)
		ls.rejected++
		return nil
	case err != nil:
		return err
	case got.Accepted:
		ls.accepted++
	default:
		ls.rejected++
	}
	return nil
}

// StreamSummary sums up a location stream.
type StreamSummary struct {
	Accepted, Rejected int32
	// Last is the driver's last fix when the stream ended; nil when none.
	Last *Fix
}

// Summary returns the stream's counts and the driver's last fix.
func (ls *LocationStream) Summary(ctx context.Context) (StreamSummary, error) {
	out := StreamSummary{Accepted: ls.accepted, Rejected: ls.rejected}
	if ls.driverID == "" {
		return out, nil
	}
	if f, ok := ls.s.index.LastFix(ls.driverID); ok {
		out.Last = &f
		return out, nil
	}
	d, err := ls.s.store.Driver(ctx, ls.driverID)
	if err != nil {
		return StreamSummary{}, fmt.Errorf("stream driver locations: %w", err)
	}
	out.Last = d.Location
	return out, nil
}

// SearchInput is a nearby search as requested: zero radius and limit take defaults.
type SearchInput struct {
	// Pickup is the point searched around; nil when missing.
	Pickup       *Point
	RadiusMeters int32
	Product      string
	Limit        int32
}

// SearchNearby returns the AVAILABLE drivers with a fresh location nearest to the
// pickup, within the radius, whose vehicle serves the product, by ETA then distance;
// operators and services only. It reserves no one, and answers from the index alone:
// a change another replica made reaches it with the next Sync (a flush interval), as
// it reaches the dispatcher's searches.
func (s *Service) SearchNearby(ctx context.Context, c caller.Caller, in SearchInput) ([]Nearby, error) {
	if err := mayManage(c, "search drivers"); err != nil {
		return nil, err
	}
	if in.Pickup == nil {
		return nil, errs.Invalid("pickup", "is required")
	}
	if err := CheckPoint("pickup", *in.Pickup); err != nil {
		return nil, err
	}
	if in.RadiusMeters < 0 || in.RadiusMeters > MaxRadiusMeters {
		return nil, errs.Invalid("radius_meters", "must be 0 to %d, got %d", MaxRadiusMeters, in.RadiusMeters)
	}
	if in.Product != "" {
		if err := CheckProduct("product", in.Product); err != nil {
			return nil, err
		}
	}
	if in.Limit < 0 || in.Limit > MaxSearchLimit {
		return nil, errs.Invalid("limit", "must be 0 to %d, got %d", MaxSearchLimit, in.Limit)
	}
	q := Query{Point: *in.Pickup, RadiusMeters: DefaultRadius, Product: in.Product, Limit: DefaultSearchLimit}
	if in.RadiusMeters > 0 {
		q.RadiusMeters = float64(in.RadiusMeters)
	}
	if in.Limit > 0 {
		q.Limit = int(in.Limit)
	}
	// The index holds the drivers' records as well (kept fresh by this process's
	// writes after commit and by Sync for other replicas' changes), so a search reads
	// no database.
	hits := s.index.Search(nil, q)
	if len(hits) == 0 {
		return nil, nil
	}
	out := make([]Nearby, len(hits))
	fixes := make([]Fix, len(hits))
	for i, h := range hits {
		fixes[i] = h.Fix
		d := h.Driver
		d.Location = &fixes[i]
		out[i] = Nearby{Driver: d, DistanceMeters: h.DistanceMeters, ETASeconds: ETASeconds(h.DistanceMeters)}
	}
	return out, nil
}
