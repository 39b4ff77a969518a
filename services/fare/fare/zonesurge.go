package fare

import (
	"context"
	"fmt"
	"math"
	"strings"
	"time"

	"github.com/golang/geo/s2"

	"github.com/waybill/waybill/kit/errs"
)

// Automatic surge: fare derives a multiplier for every S2 level-12 cell (about 2 km
// across) from matching's supply/demand events (matching.zone.supply_demand), which
// matching sends for a zone only when its counts change. The function is documented
// here and bounded:
//
//  1. The raw ratio is open requests per available driver, in basis points
//     (requests × 10000 / max(drivers, 1)), capped at MaxZoneRatioBps.
//  2. It is smoothed in time, not per event (a zone whose counts do not change sends no
//     events, and its counts still hold): the smoothed ratio approaches the latest raw
//     ratio exponentially with half-life ZoneHalfLife, so a burst of requests raises
//     prices over tens of seconds, not at once. A zone's first count is taken as is.
//  3. The target multiplier of a smoothed ratio x is 1.0x while demand does not exceed
//     supply (x ≤ 10000), and 1.0x + ZoneSurgeSlope/100 × (x − 1.0) above, rounded down
//     to a step of ZoneSurgeStepBps (0.1x) and capped at MaxZoneSurgeBps (3.0x).
//  4. Hysteresis: the multiplier rises as soon as the target of the ratio rises above
//     it, but falls only when the target of the ratio plus ZoneHysteresisBps is below
//     it, so a ratio wobbling around a step does not flip prices back and forth.
//
// The state kept per zone (ZoneSurge) is the latest raw ratio and the smoothed ratio and
// multiplier at the latest event; ZoneSurge.At evaluates steps 2–4 at any later time. A
// ride quote uses an operator's zone first (SetSurge still overrides), then the pickup
// cell's automatic surge, then the city's default zone (see PickRideSurge); the rate
// card's bounds clamp whatever applies, and the quote locks the result.
const (
	// ZoneLevel is the S2 cell level of surge zones, the same as matching's.
	ZoneLevel = 12
	// AutoZonePrefix starts the zone id of an automatic surge: "s2-" + the cell token.
	AutoZonePrefix = "s2-"
	// MaxZoneRatioBps caps the raw demand/supply ratio (10 requests per driver).
	MaxZoneRatioBps = 100000
	// ZoneHalfLife is how long the smoothed ratio takes to close half its gap to the
	// raw ratio: two of matching's default 10-second counting intervals.
	ZoneHalfLife = 20 * time.Second
	// ZoneSurgeSlope is how many percent of the ratio's excess over 1.0 the multiplier
	// adds: 50 makes a ratio of 2.0 a 1.5x surge and 3.0 a 2.0x surge.
	ZoneSurgeSlope = 50
	// ZoneSurgeStepBps is the step automatic multipliers move in (0.1x).
	ZoneSurgeStepBps = 1000
	// MaxZoneSurgeBps caps automatic multipliers (3.0x).
	MaxZoneSurgeBps = 30000
	// ZoneHysteresisBps is the ratio band a falling multiplier must clear (0.25).
	ZoneHysteresisBps = 2500
)

// ZoneSupplyDemand is matching's count of one zone at one time.
type ZoneSupplyDemand struct {
	// Zone is the token of the zone's S2 cell of level ZoneLevel.
	Zone string
	// Center is the center of the zone's cell.
	Center GeoPoint
	// AvailableDrivers and OpenRequests are the supply and the demand.
	AvailableDrivers, OpenRequests int32
	// AsOf is when the counts were taken.
	AsOf time.Time
}

// ZoneSurge is fare's automatic surge of one zone, as of its latest event.
type ZoneSurge struct {
	// Zone is the cell token; Center the cell's center.
	Zone   string
	Center GeoPoint
	// AvailableDrivers and OpenRequests are the counts of the latest event.
	AvailableDrivers, OpenRequests int32
	// RawBps is the latest raw demand/supply ratio in basis points.
	RawBps int32
	// RatioBps is the smoothed ratio at AsOf.
	RatioBps int32
	// MultiplierBps is the zone's multiplier at AsOf, 10000 to MaxZoneSurgeBps.
	MultiplierBps int32
	// AsOf is the time of the latest event applied; UpdateTime when fare applied it.
	AsOf, UpdateTime time.Time
}

// smoothed returns the smoothed ratio at t: RatioBps moved towards RawBps for t − AsOf
// (step 2).
func (z ZoneSurge) smoothed(t time.Time) int32 {
	dt := t.Sub(z.AsOf)
	if dt <= 0 {
		return z.RatioBps
	}
	keep := math.Exp2(-dt.Seconds() / ZoneHalfLife.Seconds())
	return z.RawBps + int32(math.Round(float64(z.RatioBps-z.RawBps)*keep))
}

// hysteresis returns the multiplier after mult at smoothed ratio x (steps 3 and 4).
func hysteresis(mult, x int32) int32 {
	up, down := zoneTarget(x), zoneTarget(x+ZoneHysteresisBps)
	switch {
	case up > mult:
		return up
	case down < mult:
		return down
	}
	return mult
}

// At returns the zone's multiplier at now (at or after AsOf).
func (z ZoneSurge) At(now time.Time) int32 { return hysteresis(z.MultiplierBps, z.smoothed(now)) }

// ZoneOf returns the zone (the S2 cell token of level ZoneLevel) of a point.
func ZoneOf(p GeoPoint) string {
	return s2.CellIDFromLatLng(s2.LatLngFromDegrees(p.Latitude, p.Longitude)).Parent(ZoneLevel).ToToken()
}

// validZone reports whether token is an S2 cell token of level ZoneLevel.
func validZone(token string) bool {
	id := s2.CellIDFromToken(token)
	return id.IsValid() && id.Level() == ZoneLevel && id.ToToken() == token
}

// zoneTarget is the target multiplier of a smoothed ratio (step 3 above).
func zoneTarget(ratioBps int32) int32 {
	if ratioBps <= OneX {
		return OneX
	}
	m := OneX + (ratioBps-OneX)*ZoneSurgeSlope/100
	m -= m % ZoneSurgeStepBps
	return min(m, MaxZoneSurgeBps)
}

// NextZoneSurge returns the zone's state after counts ev, from its current state (nil
// for a zone without one), applied at now.
func NextZoneSurge(cur *ZoneSurge, ev ZoneSupplyDemand, now time.Time) ZoneSurge {
	raw := int32(min(int64(max(ev.OpenRequests, 0))*OneX/int64(max(ev.AvailableDrivers, 1)), MaxZoneRatioBps))
	ratio, mult := raw, int32(OneX)
	if cur != nil {
		ratio = cur.smoothed(ev.AsOf)
		mult = cur.At(ev.AsOf)
	}
	return ZoneSurge{Zone: ev.Zone, Center: ev.Center, AvailableDrivers: ev.AvailableDrivers, OpenRequests: ev.OpenRequests,
		RawBps: raw, RatioBps: ratio, MultiplierBps: hysteresis(mult, ratio), AsOf: ev.AsOf, UpdateTime: now}
}

// ZoneTx is what applying one zone event reads and writes, inside the consumer's
// transaction.
type ZoneTx interface {
	// LockZoneSurge returns the zone's automatic surge, locked, ok false when it has none.
	LockZoneSurge(ctx context.Context, zone string) (z ZoneSurge, ok bool, err error)
	// PutZoneSurge stores the zone's automatic surge.
	PutZoneSurge(ctx context.Context, z ZoneSurge) error
}

// ApplySupplyDemand applies matching's counts of one zone (received in tx, the
// consumer's transaction) to the zone's automatic surge. Counts older than those applied
// last are ignored, so a replay changes nothing.
func (s *Service) ApplySupplyDemand(ctx context.Context, tx ZoneTx, ev ZoneSupplyDemand) error {
	if !validZone(ev.Zone) {
		return errs.Invalid("zone", "%q is not an S2 cell token of level %d", ev.Zone, ZoneLevel)
	}
	if ev.AsOf.IsZero() {
		return errs.Invalid("as_of", "is required")
	}
	ev.AsOf = ev.AsOf.UTC().Truncate(time.Microsecond)
	cur, ok, err := tx.LockZoneSurge(ctx, ev.Zone)
	if err != nil {
		return err
	}
	var prev *ZoneSurge
	if ok {
		if !ev.AsOf.After(cur.AsOf) {
			return nil
		}
		prev = &cur
	}
	return tx.PutZoneSurge(ctx, NextZoneSurge(prev, ev, s.clock()))
}

// PickRideSurge returns the multiplier (before the card's clamp), the zone and the
// surge's end (zero when none) a ride picked up at pickup uses at now: the smallest operator zone containing it that has not
// expired (even one set to 1.0x: operators may switch the automatic surge off in an
// area), else auto (the pickup cell's automatic surge, nil when it has none), else the
// city's default zone (1.0x once expired), else 1.0x with no zone.
func PickRideSurge(zones []Surge, auto *ZoneSurge, pickup GeoPoint, now time.Time) (bps int32, zone string, expire time.Time) {
	var circles []Surge
	var def *Surge
	for _, z := range zones {
		if z.Zone == DefaultZone {
			def = &z
		} else if z.ExpireTime.IsZero() || z.ExpireTime.After(now) {
			circles = append(circles, z)
		}
	}
	if s, ok := PickSurge(circles, pickup); ok {
		return s.ActiveBps(now), s.Zone, s.ExpireTime
	}
	if auto != nil {
		return auto.At(now), AutoZonePrefix + auto.Zone, time.Time{}
	}
	if def != nil {
		if def.ActiveBps(now) == OneX {
			return OneX, def.Zone, time.Time{}
		}
		return def.ActiveBps(now), def.Zone, def.ExpireTime
	}
	return OneX, "", time.Time{}
}

// AsSurge shows an automatic surge at now as a Surge of city (GetSurge of zone
// "s2-<token>"): the cell's circumscribed circle, the counts as the reason, "fare" as
// the actor.
func (z ZoneSurge) AsSurge(city string, now time.Time) Surge {
	cell := s2.CellFromCellID(s2.CellIDFromToken(z.Zone))
	radius := int32(math.Ceil(cell.CapBound().Radius().Radians() * 6371008.8))
	center := z.Center
	return Surge{City: city, Zone: AutoZonePrefix + z.Zone, MultiplierBps: z.At(now), Center: &center,
		RadiusMeters: min(max(radius, MinRadiusMeters), MaxRadiusMeters),
		Reason: fmt.Sprintf("supply/demand: %d open requests, %d available drivers (smoothed ratio %s)",
			z.OpenRequests, z.AvailableDrivers, strings.TrimSuffix(FormatBps(z.smoothed(now)), "x")),
		Actor: "fare", CreateTime: z.UpdateTime, UpdateTime: z.UpdateTime}
}
