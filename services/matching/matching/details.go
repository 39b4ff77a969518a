package matching

import (
	"strings"
	"time"
)

// details is what the Index keeps of a driver's stored record beyond status, products,
// version and fix: what a search answers with, so that SearchNearbyDrivers reads no
// database. The strings, the id included, are packed into one (one heap object per
// driver, instead of one per field, for the garbage collector to mark) and the times
// are kept as integers.
type details struct {
	// text is the fields in detailField order, concatenated; ends[i] is where field i
	// ends in it.
	text string
	ends [detailFields]uint32
	// created and updated are the create and update times in Unix nanoseconds, UTC;
	// 0 stands for the zero time.
	created, updated int64
}

// The packed fields of details, in order.
const (
	detailID = iota
	detailName
	detailCity
	detailPlate
	detailModel
	detailSubStatus
	detailMatchID
	detailTripID
	detailFields
)

// packDetails packs id and d's fields that details keeps.
func packDetails(id string, d Driver) details {
	fields := [detailFields]string{
		detailID: id, detailName: d.Name, detailCity: d.City, detailPlate: d.Vehicle.Plate, detailModel: d.Vehicle.Model,
		detailSubStatus: d.SubStatus, detailMatchID: d.CurrentMatchID, detailTripID: d.CurrentTripID,
	}
	var p details
	n := 0
	for _, f := range fields {
		n += len(f)
	}
	var b strings.Builder
	b.Grow(n)
	for i, f := range fields {
		b.WriteString(f)
		p.ends[i] = uint32(b.Len())
	}
	p.text = b.String()
	p.created, p.updated = unixNanos(d.CreateTime), unixNanos(d.UpdateTime)
	return p
}

// field returns packed field i.
func (p *details) field(i int) string {
	start := uint32(0)
	if i > 0 {
		start = p.ends[i-1]
	}
	return p.text[start:p.ends[i]]
}

// unixNanos returns t in Unix nanoseconds; 0 for the zero time.
func unixNanos(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixNano()
}

// fromUnixNanos is unixNanos' inverse, in UTC.
func fromUnixNanos(n int64) time.Time {
	if n == 0 {
		return time.Time{}
	}
	return time.Unix(0, n).UTC()
}

// driver returns the driver e holds, as stored, without a location. Its Products are
// the index's shared slice: callers must not modify it.
func (e *entry) driver() Driver {
	p := &e.info
	return Driver{
		ID:   e.id,
		Name: p.field(detailName),
		Vehicle: Vehicle{
			Plate: p.field(detailPlate), Model: p.field(detailModel), Products: e.products,
		},
		City:           p.field(detailCity),
		Status:         e.status,
		SubStatus:      p.field(detailSubStatus),
		CurrentMatchID: p.field(detailMatchID),
		CurrentTripID:  p.field(detailTripID),
		CreateTime:     fromUnixNanos(p.created),
		UpdateTime:     fromUnixNanos(p.updated),
		Version:        e.version,
	}
}
