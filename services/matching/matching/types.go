package matching

import (
	"slices"
	"time"
)

// Status is a driver's availability, owned and enforced by matching. The numbers are the
// contract's (waybill.matching.v1.DriverStatus) and are what storage keeps.
type Status int16

// The statuses; see Status.CanBecome for the transitions.
const (
	// StatusUnspecified is never stored; in a filter it means any status.
	StatusUnspecified Status = 0
	// StatusOffline: signed off, not tracked, never searched. New drivers start here.
	StatusOffline Status = 1
	// StatusAvailable: online and free, eligible for searches and offers.
	StatusAvailable Status = 2
	// StatusOffered: holds one pending offer.
	StatusOffered Status = 3
	// StatusOnTrip: reserved for an accepted ride until released.
	StatusOnTrip Status = 4
)

// Valid reports whether s is a status a driver can be in.
func (s Status) Valid() bool { return s >= StatusOffline && s <= StatusOnTrip }

// String returns the status's name, for messages.
func (s Status) String() string {
	switch s {
	case StatusOffline:
		return "OFFLINE"
	case StatusAvailable:
		return "AVAILABLE"
	case StatusOffered:
		return "OFFERED"
	case StatusOnTrip:
		return "ON_TRIP"
	}
	return "UNSPECIFIED"
}

// CanBecome reports whether a driver in status s may move to next: OFFLINE ⇄ AVAILABLE
// (the driver), AVAILABLE → OFFERED → AVAILABLE or ON_TRIP (offers), ON_TRIP →
// AVAILABLE (release). Every other transition is refused; in particular a driver who
// is OFFERED or ON_TRIP cannot go offline.
func (s Status) CanBecome(next Status) bool {
	switch s {
	case StatusOffline:
		return next == StatusAvailable
	case StatusAvailable:
		return next == StatusOffline || next == StatusOffered
	case StatusOffered:
		return next == StatusAvailable || next == StatusOnTrip
	case StatusOnTrip:
		return next == StatusAvailable
	}
	return false
}

// Vehicle is the car a driver drives and the ride products it serves.
type Vehicle struct {
	// Plate is the licence plate as printed; unique per city among drivers.
	Plate string
	// Model is the make and model.
	Model string
	// Products are the distinct ride product codes the vehicle serves.
	Products []string
}

// Serves reports whether the vehicle serves product; every vehicle serves "" (any).
func (v Vehicle) Serves(product string) bool {
	return product == "" || slices.Contains(v.Products, product)
}

// Point is a position in WGS 84 degrees.
type Point struct {
	Lat, Lng float64
}

// Fix is one position fix of a driver's device.
type Fix struct {
	// Point is the measured position.
	Point Point
	// Time is when the device measured it.
	Time time.Time
	// AccuracyMeters, HeadingDegrees and SpeedMPS describe the fix; 0 when unknown.
	AccuracyMeters, HeadingDegrees, SpeedMPS float64
}

// Driver is a person who drives for Waybill.
type Driver struct {
	ID      string
	Name    string
	Vehicle Vehicle
	City    string
	Status  Status
	// SubStatus is free-form; matching never interprets it.
	SubStatus string
	// Location is the last accepted fix; nil before the first one.
	Location *Fix
	// CurrentMatchID and CurrentTripID are set while OFFERED or ON_TRIP.
	CurrentMatchID, CurrentTripID string
	CreateTime, UpdateTime        time.Time
	// Version increases by one on every change (location fixes excluded).
	Version int64
}

// clone returns a copy of d that shares no slices or pointers with it.
func (d Driver) clone() Driver {
	d.Vehicle.Products = slices.Clone(d.Vehicle.Products)
	if d.Location != nil {
		l := *d.Location
		d.Location = &l
	}
	return d
}

// DriverFilter selects drivers in ListDrivers; zero fields select all.
type DriverFilter struct {
	City   string
	Status Status
}

// DriverCursor is the position after a ListDrivers page's last driver: drivers are
// ordered by creation time, then id.
type DriverCursor struct {
	CreateTime time.Time `json:"t"`
	ID         string    `json:"id"`
}

// DriverPage is one page of ListDrivers.
type DriverPage struct {
	Drivers       []Driver
	NextPageToken string
}

// Tracked is what the Index keeps of a driver who is not OFFLINE, as storage rebuilds it.
type Tracked struct {
	ID       string
	Status   Status
	Products []string
	// Version is the driver's version the status and products are of.
	Version int64
	// Location is the last stored fix; nil when none.
	Location *Fix
	// Driver is the rest of the driver's stored record (name, vehicle, city,
	// sub-status, current match and trip, times) of the same version, which searches
	// answer with; its ID, Status, Vehicle.Products, Version and Location are not read
	// (the fields above are).
	Driver Driver
}

// Nearby is one result of a nearby search.
type Nearby struct {
	Driver         Driver
	DistanceMeters float64
	ETASeconds     int32
}
