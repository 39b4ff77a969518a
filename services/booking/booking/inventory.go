package booking

import (
	"regexp"
	"time"
	"unicode/utf8"

	"github.com/waybill/waybill/kit/errs"
)

// Mode is the kind of vehicle of a departure.
type Mode int

// The transport modes.
const (
	ModeUnspecified Mode = iota
	ModeFlight
	ModeTrain
	ModeBus
)

// Valid reports whether m is a defined mode.
func (m Mode) Valid() bool { return m >= ModeFlight && m <= ModeBus }

// Kind returns the reservation kind of seats on a departure of mode m.
func (m Mode) Kind() Kind {
	switch m {
	case ModeTrain:
		return KindTrain
	case ModeBus:
		return KindBus
	}
	return KindFlight
}

// DepartureStatus is the main status of a departure.
type DepartureStatus int

// The departure statuses.
const (
	DepartureUnspecified DepartureStatus = iota
	DepartureScheduled
	DepartureDeparted
	DepartureCancelled
)

// PropertyStatus is the main status of a property.
type PropertyStatus int

// The property statuses.
const (
	PropertyUnspecified PropertyStatus = iota
	PropertyActive
	PropertyClosed
)

// Limits of inventory fields, as the API documents them.
const (
	MaxFareClasses = 20
	MaxRoomTypes   = 50
	MaxCapacity    = 10000
	MaxSubStatus   = 64
	MaxReason      = 500
	MaxPolicyRules = 10
	MaxNotice      = 366 * 24 * time.Hour
	// SaleDays is how far ahead booking sells: departures leave, and stays check in, at
	// most this many days from today; later dates fail with INVALID_ARGUMENT.
	SaleDays = 731
	// MaxJourney is the longest a departure may take from departure to arrival.
	MaxJourney = 7 * 24 * time.Hour
	// DefaultCheckInHour and DefaultCheckOutHour apply when a property leaves them 0.
	DefaultCheckInHour  = 15
	DefaultCheckOutHour = 11
)

// Departure is one scheduled departure with the seats it sells per fare class.
type Departure struct {
	ID             string
	Mode           Mode
	Carrier        string
	Number         string
	Origin         string
	Destination    string
	DepartureTime  time.Time
	ArrivalTime    time.Time
	OriginTimeZone string
	FareClasses    []FareClass
	Status         DepartureStatus
	SubStatus      string
	CancelReason   string
	CreateTime     time.Time
	UpdateTime     time.Time
	Version        int64
}

// FareClass is one class of seats on a departure with its counters.
type FareClass struct {
	Name        string
	DisplayName string
	Capacity    int
	Held        int
	Sold        int
	Policy      Policy
}

// Available returns the seats still free.
func (f FareClass) Available() int { return max(0, f.Capacity-f.Held-f.Sold) }

// FareClass returns the fare class named name.
func (d *Departure) FareClass(name string) (FareClass, bool) {
	return findFareClass(d.FareClasses, name)
}

// LocalDate returns the departure date in the origin's time zone.
func (d *Departure) LocalDate() Date {
	loc, err := time.LoadLocation(d.OriginTimeZone)
	if err != nil {
		loc = time.UTC
	}
	return DateOf(d.DepartureTime.In(loc))
}

// Refresh moves a SCHEDULED departure whose time has passed to DEPARTED, as the API
// describes; the status is derived when read rather than written by a job.
func (d *Departure) Refresh(now time.Time) {
	if d.Status == DepartureScheduled && !now.Before(d.DepartureTime) {
		d.Status = DepartureDeparted
	}
}

// Property is a place to stay with the room types it sells per night.
type Property struct {
	ID           string
	Name         string
	City         string
	Address      string
	Latitude     float64
	Longitude    float64
	TimeZone     string
	CheckInHour  int
	CheckOutHour int
	RoomTypes    []RoomType
	Status       PropertyStatus
	SubStatus    string
	CloseReason  string
	CreateTime   time.Time
	UpdateTime   time.Time
	Version      int64
}

// RoomType is one kind of room a property sells.
type RoomType struct {
	Name            string
	DisplayName     string
	NightlyCapacity int
	MaxGuests       int
	Policy          Policy
	// Available is the rooms free on every night of a searched stay; set by searches only.
	Available int
}

// RoomType returns the room type named name.
func (p *Property) RoomType(name string) (RoomType, bool) {
	for _, r := range p.RoomTypes {
		if r.Name == name {
			return r, true
		}
	}
	return RoomType{}, false
}

// Location returns the property's time zone (UTC when it cannot be loaded).
func (p *Property) Location() *time.Location {
	loc, err := time.LoadLocation(p.TimeZone)
	if err != nil {
		return time.UTC
	}
	return loc
}

var (
	identRE = regexp.MustCompile(`^[a-z0-9_-]{1,32}$`)
	cityRE  = regexp.MustCompile(`^[a-z0-9-]{1,64}$`)
)

// runeLen reports whether s has between lo and hi characters.
func runeLen(s string, lo, hi int) bool {
	n := utf8.RuneCountInString(s)
	return n >= lo && n <= hi
}

// validZone reports whether tz is an IANA time zone this process knows.
func validZone(tz string) bool {
	if tz == "" || tz == "Local" {
		return false
	}
	_, err := time.LoadLocation(tz)
	return err == nil
}

// ValidateDeparture checks a departure to create at now. prefix is the request field
// holding it ("departure").
func ValidateDeparture(d *Departure, now time.Time, prefix string) error {
	var v errs.Violations
	v.Check(d.Mode.Valid(), prefix+".mode", "must be FLIGHT, TRAIN or BUS")
	validateSchedule(&v, d, prefix)
	v.Check(!d.DepartureTime.IsZero() && d.DepartureTime.After(now), prefix+".departure_time", "must be in the future")
	v.Check(!saleHorizon(now).Before(d.DepartureTime), prefix+".departure_time", "must be at most %d days ahead", SaleDays)
	v.Check(runeLen(d.Origin, 1, 16), prefix+".origin", "must be 1 to 16 characters")
	v.Check(runeLen(d.Destination, 1, 16), prefix+".destination", "must be 1 to 16 characters")
	v.Check(d.Origin != d.Destination, prefix+".destination", "must differ from origin")
	v.Check(validZone(d.OriginTimeZone), prefix+".origin_time_zone", "must be an IANA time zone such as Europe/Berlin")
	validateFareClasses(&v, d.FareClasses, prefix+".fare_classes")
	v.Check(runeLen(d.SubStatus, 0, MaxSubStatus), prefix+".sub_status", "must be at most %d characters", MaxSubStatus)
	return v.Err()
}

// validateSchedule checks the fields an update may change too.
func validateSchedule(v *errs.Violations, d *Departure, prefix string) {
	v.Check(runeLen(d.Carrier, 1, 64), prefix+".carrier", "must be 1 to 64 characters")
	v.Check(runeLen(d.Number, 1, 32), prefix+".number", "must be 1 to 32 characters")
	v.Check(!d.DepartureTime.IsZero(), prefix+".departure_time", "is required")
	v.Check(!d.ArrivalTime.IsZero() && d.ArrivalTime.After(d.DepartureTime), prefix+".arrival_time", "must be after departure_time")
	v.Check(d.ArrivalTime.Sub(d.DepartureTime) <= MaxJourney, prefix+".arrival_time", "must be at most %v after departure_time", MaxJourney)
}

// saleHorizon is the latest departure time booking accepts at now.
func saleHorizon(now time.Time) time.Time { return now.AddDate(0, 0, SaleDays) }

func validateFareClasses(v *errs.Violations, fcs []FareClass, field string) {
	v.Check(len(fcs) >= 1 && len(fcs) <= MaxFareClasses, field, "must hold 1 to %d fare classes", MaxFareClasses)
	seen := map[string]bool{}
	for i, f := range fcs {
		p := field + "[" + itoa(i) + "]"
		v.Check(identRE.MatchString(f.Name), p+".name", "must be 1 to 32 lower-case letters, digits, _ or -")
		v.Check(!seen[f.Name], p+".name", "duplicates another fare class")
		seen[f.Name] = true
		v.Check(runeLen(f.DisplayName, 0, 64), p+".display_name", "must be at most 64 characters")
		v.Check(f.Capacity >= 1 && f.Capacity <= MaxCapacity, p+".capacity", "must be 1 to %d", MaxCapacity)
		validatePolicy(v, f.Policy, p+".cancellation_policy")
	}
}

// ValidateProperty checks a property to create. prefix is the request field holding it.
func ValidateProperty(p *Property, prefix string) error {
	var v errs.Violations
	validatePropertyFields(&v, p, prefix)
	v.Check(cityRE.MatchString(p.City), prefix+".city", "must be 1 to 64 lower-case letters, digits or -")
	v.Check(validZone(p.TimeZone), prefix+".time_zone", "must be an IANA time zone such as Europe/Berlin")
	validateRoomTypes(&v, p.RoomTypes, prefix+".room_types")
	v.Check(runeLen(p.SubStatus, 0, MaxSubStatus), prefix+".sub_status", "must be at most %d characters", MaxSubStatus)
	return v.Err()
}

// validatePropertyFields checks the fields an update may change too.
func validatePropertyFields(v *errs.Violations, p *Property, prefix string) {
	v.Check(runeLen(p.Name, 1, 200), prefix+".name", "must be 1 to 200 characters")
	v.Check(runeLen(p.Address, 0, 500), prefix+".address", "must be at most 500 characters")
	v.Check(p.Latitude >= -90 && p.Latitude <= 90, prefix+".location.latitude", "must be in [-90, 90]")
	v.Check(p.Longitude >= -180 && p.Longitude <= 180, prefix+".location.longitude", "must be in [-180, 180]")
	v.Check(p.CheckInHour >= 0 && p.CheckInHour <= 23, prefix+".check_in_hour", "must be 0 to 23")
	v.Check(p.CheckOutHour >= 0 && p.CheckOutHour <= 23, prefix+".check_out_hour", "must be 0 to 23")
}

func validateRoomTypes(v *errs.Violations, rts []RoomType, field string) {
	v.Check(len(rts) >= 1 && len(rts) <= MaxRoomTypes, field, "must hold 1 to %d room types", MaxRoomTypes)
	seen := map[string]bool{}
	for i, r := range rts {
		p := field + "[" + itoa(i) + "]"
		v.Check(identRE.MatchString(r.Name), p+".name", "must be 1 to 32 lower-case letters, digits, _ or -")
		v.Check(!seen[r.Name], p+".name", "duplicates another room type")
		seen[r.Name] = true
		v.Check(runeLen(r.DisplayName, 0, 64), p+".display_name", "must be at most 64 characters")
		v.Check(r.NightlyCapacity >= 1 && r.NightlyCapacity <= MaxCapacity, p+".nightly_capacity", "must be 1 to %d", MaxCapacity)
		v.Check(r.MaxGuests >= 1 && r.MaxGuests <= 20, p+".max_guests", "must be 1 to 20")
		validatePolicy(v, r.Policy, p+".cancellation_policy")
	}
}

func validatePolicy(v *errs.Violations, p Policy, field string) {
	v.Check(len(p.Rules) <= MaxPolicyRules, field+".rules", "must hold at most %d rules", MaxPolicyRules)
	seen := map[time.Duration]bool{}
	for i, r := range p.Rules {
		f := field + ".rules[" + itoa(i) + "]"
		v.Check(r.MinNotice >= 0 && r.MinNotice <= MaxNotice, f+".min_notice", "must be 0 to 366 days")
		v.Check(!seen[r.MinNotice], f+".min_notice", "duplicates another rule")
		seen[r.MinNotice] = true
		v.Check(r.RefundBps >= 0 && r.RefundBps <= 10000, f+".refund_bps", "must be 0 to 10000")
	}
}

// itoa formats a small non-negative int without importing strconv everywhere.
func itoa(i int) string {
	if i < 10 {
		return string(rune('0' + i))
	}
	return itoa(i/10) + string(rune('0'+i%10))
}
