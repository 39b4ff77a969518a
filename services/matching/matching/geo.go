package matching

import (
	"math"

	"github.com/paulmach/orb"
)

// EarthRadiusMeters is the mean Earth radius (IUGG) the distances use.
const EarthRadiusMeters = 6_371_008.8

// The ETA estimate: straight-line distance, lengthened by the detour roads make, driven
// at a city's average speed. It is for display and ranking, not a promise; it grows
// with distance, so ranking by ETA ranks by distance.
const (
	// DetourFactor is how much longer a road route is than the straight line, typically.
	DetourFactor = 1.3
	// AverageSpeedMPS is the average city driving speed assumed, 30 km/h.
	AverageSpeedMPS = 30.0 / 3.6
)

// ETASeconds estimates the driving time over a straight-line distance in meters.
func ETASeconds(distanceMeters float64) int32 {
	return int32(math.Ceil(distanceMeters * DetourFactor / AverageSpeedMPS))
}

const rad = math.Pi / 180

// DistanceMeters returns the great-circle (haversine) distance between a and b on a
// sphere of EarthRadiusMeters.
func DistanceMeters(a, b Point) float64 {
	return haversine(a.Lat*rad, math.Cos(a.Lat*rad), a.Lng, b.Lat*rad, math.Cos(b.Lat*rad), b.Lng)
}

// haversine is DistanceMeters with each point's latitude in radians and its cosine
// given, so the Index computes them once per point; the result is bit for bit
// DistanceMeters'.
func haversine(lat1, cos1, lng1, lat2, cos2, lng2 float64) float64 {
	sdLat := math.Sin((lat2 - lat1) / 2)
	sdLng := math.Sin((lng2 - lng1) * rad / 2)
	h := sdLat*sdLat + cos1*cos2*sdLng*sdLng
	return 2 * EarthRadiusMeters * math.Asin(math.Sqrt(min(1, h)))
}

// boundPad widens bounding boxes by about 1 mm, so that floating-point rounding never
// leaves out a point the distance puts inside.
const boundPad = 1e-8

// circleBounds returns longitude/latitude boxes that together contain every point
// within meters of c: one box, or two when the circle crosses the antimeridian, or one
// box spanning every longitude when it contains a pole. The boxes do not overlap; n is
// how many of bs are set.
func circleBounds(c Point, meters float64) (bs [2]orb.Bound, n int) {
	box := func(minLng, minLat, maxLng, maxLat float64) orb.Bound {
		return orb.Bound{Min: orb.Point{minLng, minLat}, Max: orb.Point{maxLng, maxLat}}
	}
	delta := meters / EarthRadiusMeters // angular radius, radians
	dLat := delta/rad + boundPad
	minLat, maxLat := c.Lat-dLat, c.Lat+dLat
	if delta >= math.Pi/2 || minLat <= -90 || maxLat >= 90 {
		// The circle reaches a pole (or a quarter of the globe): every longitude.
		bs[0] = box(-180, max(minLat, -90), 180, min(maxLat, 90))
		return bs, 1
	}
	// The widest longitude of a circle of angular radius delta around latitude φ.
	s := math.Sin(delta) / math.Cos(c.Lat*rad)
	dLng := 180.0
	if s < 1 {
		dLng = math.Asin(s)/rad + boundPad
	}
	minLng, maxLng := c.Lng-dLng, c.Lng+dLng
	switch {
	case maxLng-minLng >= 360:
		bs[0] = box(-180, minLat, 180, maxLat)
		return bs, 1
	case minLng < -180:
		bs[0], bs[1] = box(-180, minLat, maxLng, maxLat), box(minLng+360, minLat, 180, maxLat)
		return bs, 2
	case maxLng > 180:
		bs[0], bs[1] = box(minLng, minLat, 180, maxLat), box(-180, minLat, maxLng-360, maxLat)
		return bs, 2
	}
	bs[0] = box(minLng, minLat, maxLng, maxLat)
	return bs, 1
}
