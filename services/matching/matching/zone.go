package matching

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/golang/geo/s2"
)

// ZoneLevel is the S2 cell level of a zone: cells of level 12 are about 2 km across.
// Fare maps a pickup to its zone the same way (ZoneOf), to price with the zone's supply
// and demand.
const ZoneLevel = 12

// DefaultZoneInterval is how often zones are counted.
const DefaultZoneInterval = 10 * time.Second

// ZoneOf returns the zone of p: the token of its S2 cell of level ZoneLevel.
func ZoneOf(p Point) string {
	return s2.CellIDFromLatLng(s2.LatLngFromDegrees(p.Lat, p.Lng)).Parent(ZoneLevel).ToToken()
}

// zoneCenter returns the center of zone token.
func zoneCenter(token string) Point {
	ll := s2.CellIDFromToken(token).LatLng()
	return Point{Lat: ll.Lat.Degrees(), Lng: ll.Lng.Degrees()}
}

// ZoneCount is one zone's supply and demand at a time: the zone is an S2 cell of level
// ZoneLevel, named by its token.
type ZoneCount struct {
	// Zone is the cell's token.
	Zone string
	// Center is the cell's center.
	Center Point
	// AvailableDrivers counts the AVAILABLE drivers with a fresh fix in the zone.
	AvailableDrivers int32
	// OpenRequests counts the SEARCHING and OFFERED matches whose pickup is in the zone.
	OpenRequests int32
	// AsOf is when the counts were taken.
	AsOf time.Time
}

// ZoneFunc decides, from the counts stored at the last emission, which zones changed:
// it returns their new counts (zero counts included, storage forgets those) and the
// events to emit.
type ZoneFunc func(prev []ZoneCount) (changed []ZoneCount, events []Event, err error)

// CountZones counts every zone's available drivers (from the index) and open requests
// (from storage), and emits matching.zone.supply_demand for each zone whose counts
// changed since the last emission (stored, so a restart or another replica does not
// repeat it), a zone that dropped to zero included. Only one replica counts at a time;
// it reports how many events it emitted.
func (s *Service) CountZones(ctx context.Context) (int, error) {
	now := s.clock()
	cur := map[string]*ZoneCount{}
	zone := func(token string) *ZoneCount {
		z := cur[token]
		if z == nil {
			z = &ZoneCount{Zone: token, Center: zoneCenter(token), AsOf: now}
			cur[token] = z
		}
		return z
	}
	for _, p := range s.index.Available() {
		zone(ZoneOf(p)).AvailableDrivers++
	}
	pickups, err := s.store.OpenPickups(ctx)
	if err != nil {
		return 0, fmt.Errorf("count zones: %w", err)
	}
	for _, p := range pickups {
		zone(ZoneOf(p)).OpenRequests++
	}
	n := 0
	_, err = s.store.InZones(ctx, func(prev []ZoneCount) ([]ZoneCount, []Event, error) {
		n = 0
		var changed []ZoneCount
		var events []Event
		was := make(map[string]ZoneCount, len(prev))
		for _, p := range prev {
			was[p.Zone] = p
			if _, ok := cur[p.Zone]; !ok {
				zone(p.Zone) // dropped to zero
			}
		}
		for token, z := range cur {
			p, ok := was[token]
			if ok && p.AvailableDrivers == z.AvailableDrivers && p.OpenRequests == z.OpenRequests {
				continue
			}
			if !ok && z.AvailableDrivers == 0 && z.OpenRequests == 0 {
				continue
			}
			changed = append(changed, *z)
			events = append(events, Event{Type: EventTypeZoneSupplyDemand, Key: token, Zone: *z})
		}
		n = len(events)
		return changed, events, nil
	})
	if err != nil {
		return 0, fmt.Errorf("count zones: %w", err)
	}
	return n, nil
}

// RunZones counts zones every interval until ctx ends.
func (s *Service) RunZones(ctx context.Context, interval time.Duration, log *slog.Logger) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if _, err := s.CountZones(ctx); err != nil && ctx.Err() == nil {
				log.Warn("count zones", slog.Any("error", err))
			}
		}
	}
}
