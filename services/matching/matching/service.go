package matching

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"time"

	"github.com/waybill/waybill/kit/caller"
	"github.com/waybill/waybill/kit/city"
	"github.com/waybill/waybill/kit/errs"
	"github.com/waybill/waybill/kit/idempotency"
	"github.com/waybill/waybill/kit/ids"
	"github.com/waybill/waybill/kit/page"
)

// Page sizes of ListDrivers (kit/page).
const (
	// DefaultPageSize is used when a list call asks for 0.
	DefaultPageSize = 50
	// MaxPageSize is the largest page_size the contract allows.
	MaxPageSize = 500
)

// Service is the matching service's use cases over a Store and the Index of this
// process.
type Service struct {
	store Store
	index *Index
	now   func() time.Time
	opts  Options
	// wake wakes the dispatcher after a commit that made a match due.
	wake chan struct{}
	// hub tells this process's WatchDriverOffers streams that a driver's offers changed.
	hub *hub
}

// Options configures a Service; the zero value is the contract's defaults.
type Options struct {
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// MinOfferTimeout is the shortest offer_timeout CreateMatch accepts; 0 means the
	// contract's MinOfferTimeout. Tests lower it to run offers out quickly.
	MinOfferTimeout time.Duration
	// Heartbeat is how often WatchDriverOffers sends a heartbeat; 0 means
	// DefaultHeartbeat.
	Heartbeat time.Duration
	// WatchPoll is how often WatchDriverOffers looks for changes made by other replicas
	// (this process's own changes arrive at once); 0 means DefaultWatchPoll.
	WatchPoll time.Duration
}

// New returns a service on store and index.
func New(store Store, index *Index, o Options) *Service {
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.MinOfferTimeout <= 0 {
		o.MinOfferTimeout = MinOfferTimeout
	}
	if o.Heartbeat <= 0 {
		o.Heartbeat = DefaultHeartbeat
	}
	if o.WatchPoll <= 0 {
		o.WatchPoll = DefaultWatchPoll
	}
	return &Service{store: store, index: index, now: o.Now, opts: o, wake: make(chan struct{}, 1), hub: newHub()}
}

// clock returns the current time, truncated to microseconds as PostgreSQL stores it, so
// a value written and read back compares equal.
func (s *Service) clock() time.Time { return s.now().UTC().Truncate(time.Microsecond) }

// idempotencyKey returns the idempotency key of method called by c with requestID and
// params (JSON-encoded into the key's hash: the same request id with other parameters
// is refused).
func idempotencyKey(method string, c caller.Caller, requestID string, params any) idempotency.Key {
	b, err := json.Marshal(params)
	if err != nil {
		panic(fmt.Sprintf("matching: the parameters of %s cannot be encoded: %v", method, err)) // plain structs always encode
	}
	return idempotency.Key{Method: method, Subject: c.Subject, RequestID: requestID, Hash: idempotency.Fingerprint(string(b))}
}

// tracked is what the index keeps of d.
func tracked(d Driver) Tracked {
	return Tracked{ID: d.ID, Status: d.Status, Products: d.Vehicle.Products, Version: d.Version, Location: d.Location, Driver: d}
}

// withLocation returns d with the index's last fix when it is newer than the stored
// one: positions reach storage in batches.
func (s *Service) withLocation(d Driver) Driver {
	if f, ok := s.index.LastFix(d.ID); ok && (d.Location == nil || f.Time.After(d.Location.Time)) {
		d.Location = &f
	}
	return d
}

// CreateDriver registers d, OFFLINE, with version 1; operators only. It is idempotent by
// requestID: a retry with the same driver returns the driver the first call created.
func (s *Service) CreateDriver(ctx context.Context, c caller.Caller, d Driver, requestID string) (Driver, error) {
	if c.Role != caller.Operator {
		return Driver{}, errs.Denied("", "only operators may register drivers")
	}
	// Output-only fields are ignored, and are no parameters of the call.
	d = Driver{Name: d.Name, City: d.City, Vehicle: d.Vehicle, SubStatus: d.SubStatus}
	if err := checkText("driver.name", d.Name, MaxNameLength); err != nil {
		return Driver{}, err
	}
	if err := city.Check("driver.city", d.City); err != nil {
		return Driver{}, err
	}
	if err := checkVehicle("driver.vehicle", d.Vehicle); err != nil {
		return Driver{}, err
	}
	if err := checkSubStatus("driver.sub_status", d.SubStatus); err != nil {
		return Driver{}, err
	}
	if err := checkRequestID(requestID); err != nil {
		return Driver{}, err
	}
	key := idempotencyKey("CreateDriver", c, requestID, d)
	now := s.clock()
	d.ID, d.Status, d.Version = ids.New(), StatusOffline, 1
	d.CreateTime, d.UpdateTime = now, now
	out, err := s.store.CreateDriver(ctx, d, key)
	if err != nil {
		return Driver{}, fmt.Errorf("create driver: %w", err)
	}
	return out, nil
}

// GetDriver returns one driver to operators, services and the driver themselves.
func (s *Service) GetDriver(ctx context.Context, c caller.Caller, id string) (Driver, error) {
	if err := ids.Check("driver_id", id); err != nil {
		return Driver{}, err
	}
	if err := mayActFor(c, id); err != nil {
		return Driver{}, err
	}
	d, err := s.store.Driver(ctx, id)
	if err != nil {
		return Driver{}, fmt.Errorf("get driver: %w", err)
	}
	return s.withLocation(d), nil
}

// ListDrivers returns a page of drivers selected by f, oldest first; operators and
// services only.
func (s *Service) ListDrivers(ctx context.Context, c caller.Caller, f DriverFilter, pageToken string, pageSize int32) (DriverPage, error) {
	if err := mayManage(c, "list drivers"); err != nil {
		return DriverPage{}, err
	}
	if pageSize > MaxPageSize {
		return DriverPage{}, errs.Invalid("page_size", "must be 0 to %d, got %d", MaxPageSize, pageSize)
	}
	limit, err := page.Limit(int(pageSize), DefaultPageSize, MaxPageSize)
	if err != nil {
		return DriverPage{}, err
	}
	if f.City != "" {
		if err := city.Check("city", f.City); err != nil {
			return DriverPage{}, err
		}
	}
	if f.Status != StatusUnspecified && !f.Status.Valid() {
		return DriverPage{}, errs.Invalid("status", "is not a known driver status")
	}
	filter := page.Fingerprint("ListDrivers", f.City, int(f.Status))
	var cur DriverCursor
	ok, err := page.Decode(pageToken, filter, &cur)
	if err != nil {
		return DriverPage{}, err
	}
	var after *DriverCursor
	if ok {
		if !ids.ValidUUID(cur.ID) || cur.CreateTime.IsZero() {
			return DriverPage{}, errs.Invalid("page_token", "is malformed; pass the next_page_token of the previous page")
		}
		after = &cur
	}
	ds, err := s.store.ListDrivers(ctx, f, after, limit+1)
	if err != nil {
		return DriverPage{}, fmt.Errorf("list drivers: %w", err)
	}
	var p DriverPage
	if len(ds) > limit {
		ds = ds[:limit]
		last := ds[limit-1]
		p.NextPageToken = page.Encode(DriverCursor{CreateTime: last.CreateTime, ID: last.ID}, filter)
	}
	for i := range ds {
		ds[i] = s.withLocation(ds[i])
	}
	p.Drivers = ds
	return p, nil
}

// The paths UpdateDriver accepts.
var updatePaths = []string{"name", "city", "vehicle", "vehicle.plate", "vehicle.model", "vehicle.products", "sub_status"}

// UpdateDriver changes the fields of driver patch.ID that paths name, taken from patch.
// City and vehicle change only while the driver is OFFLINE. Drivers may change only
// their own sub_status; operators and services anything. A non-zero patch.Version must
// be the current version. It is idempotent by requestID.
func (s *Service) UpdateDriver(ctx context.Context, c caller.Caller, patch Driver, paths []string, requestID string) (Driver, error) {
	if err := ids.Check("driver.id", patch.ID); err != nil {
		return Driver{}, err
	}
	if err := mayActFor(c, patch.ID); err != nil {
		return Driver{}, err
	}
	if len(paths) == 0 {
		return Driver{}, errs.Invalid("update_mask", "must name at least one field")
	}
	for _, p := range paths {
		if !slices.Contains(updatePaths, p) {
			return Driver{}, errs.Invalid("update_mask", "cannot change %q; allowed: %v", p, updatePaths)
		}
	}
	paths = slices.Compact(slices.Sorted(slices.Values(paths)))
	if !c.Privileged() {
		for _, p := range paths {
			if p != "sub_status" {
				return Driver{}, errs.NotSettable("driver."+p, "a driver may change only their own sub_status")
			}
		}
	}
	if patch.Version < 0 {
		return Driver{}, errs.Invalid("driver.version", "must be 0 or the current version, got %d", patch.Version)
	}
	for _, p := range paths {
		if err := checkPatch(p, patch); err != nil {
			return Driver{}, err
		}
	}
	if err := checkRequestID(requestID); err != nil {
		return Driver{}, err
	}
	// The call's parameters: the id, the version and the named fields' new values.
	named := Driver{ID: patch.ID, Version: patch.Version}
	for _, p := range paths {
		applyPath(&named, p, patch)
	}
	key := idempotencyKey("UpdateDriver", c, requestID, struct {
		Patch Driver
		Paths []string
	}{named, paths})
	out, err := s.store.UpdateDriver(ctx, patch.ID, key, func(cur Driver) (Change, error) {
		if patch.Version != 0 && patch.Version != cur.Version {
			return Change{}, stale(patch.Version, cur.Version)
		}
		next := cur.clone()
		for _, p := range paths {
			applyPath(&next, p, patch)
		}
		if next.City != cur.City || !sameVehicle(next.Vehicle, cur.Vehicle) {
			if cur.Status != StatusOffline {
				return Change{}, errs.Precondition(ReasonDriverNotOffline, "the driver is %s: city and vehicle change only while OFFLINE", cur.Status)
			}
		} else if next.Name == cur.Name && next.SubStatus == cur.SubStatus {
			return Change{Driver: cur}, nil // nothing changes
		}
		next.Version, next.UpdateTime = cur.Version+1, s.clock()
		return Change{Driver: next, Write: true}, nil
	})
	if err != nil {
		return Driver{}, fmt.Errorf("update driver: %w", err)
	}
	s.index.Apply(tracked(out))
	return s.withLocation(out), nil
}

// checkPatch checks the new value of path in patch.
func checkPatch(path string, patch Driver) error {
	switch path {
	case "name":
		return checkText("driver.name", patch.Name, MaxNameLength)
	case "city":
		return city.Check("driver.city", patch.City)
	case "vehicle":
		return checkVehicle("driver.vehicle", patch.Vehicle)
	case "vehicle.plate":
		return checkText("driver.vehicle.plate", patch.Vehicle.Plate, MaxPlateLength)
	case "vehicle.model":
		return checkText("driver.vehicle.model", patch.Vehicle.Model, MaxModelLength)
	case "vehicle.products":
		return checkProducts("driver.vehicle.products", patch.Vehicle.Products)
	case "sub_status":
		return checkSubStatus("driver.sub_status", patch.SubStatus)
	}
	return errs.Invalid("update_mask", "cannot change %q", path)
}

// applyPath copies the field path names from patch into d.
func applyPath(d *Driver, path string, patch Driver) {
	switch path {
	case "name":
		d.Name = patch.Name
	case "city":
		d.City = patch.City
	case "vehicle":
		d.Vehicle = Vehicle{Plate: patch.Vehicle.Plate, Model: patch.Vehicle.Model, Products: slices.Clone(patch.Vehicle.Products)}
	case "vehicle.plate":
		d.Vehicle.Plate = patch.Vehicle.Plate
	case "vehicle.model":
		d.Vehicle.Model = patch.Vehicle.Model
	case "vehicle.products":
		d.Vehicle.Products = slices.Clone(patch.Vehicle.Products)
	case "sub_status":
		d.SubStatus = patch.SubStatus
	}
}

func sameVehicle(a, b Vehicle) bool {
	return a.Plate == b.Plate && a.Model == b.Model && slices.Equal(a.Products, b.Products)
}

// SetDriverAvailability takes driver id online (AVAILABLE) or offline (OFFLINE) for the
// driver themselves, operators and services; asking for the current state changes
// nothing. A change emits matching.driver.availability_changed. It is idempotent by
// requestID.
func (s *Service) SetDriverAvailability(ctx context.Context, c caller.Caller, id string, online bool, requestID string) (Driver, error) {
	if err := ids.Check("driver_id", id); err != nil {
		return Driver{}, err
	}
	if err := mayActFor(c, id); err != nil {
		return Driver{}, err
	}
	if err := checkRequestID(requestID); err != nil {
		return Driver{}, err
	}
	target := StatusOffline
	if online {
		target = StatusAvailable
	}
	key := idempotencyKey("SetDriverAvailability", c, requestID, []string{id, strconv.FormatBool(online)})
	out, err := s.store.UpdateDriver(ctx, id, key, func(cur Driver) (Change, error) {
		if cur.Status == target {
			return Change{Driver: cur}, nil
		}
		if !cur.Status.CanBecome(target) {
			return Change{}, errs.Precondition(ReasonDriverBusy, "the driver is %s: answer the offer or finish the ride before going %s", cur.Status, target)
		}
		next := cur.clone()
		next.Status, next.Version, next.UpdateTime = target, cur.Version+1, s.clock()
		ev := Event{Type: EventTypeDriverAvailabilityChanged, Key: id, Driver: next, Previous: cur.Status}
		return Change{Driver: next, Write: true, Events: []Event{ev}}, nil
	})
	if err != nil {
		return Driver{}, fmt.Errorf("set driver availability: %w", err)
	}
	s.index.Apply(tracked(out))
	return s.withLocation(out), nil
}
