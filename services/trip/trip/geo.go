package trip

import "math"

// earthRadiusMeters is the mean earth radius.
const earthRadiusMeters = 6_371_008.8

// Haversine returns the great-circle distance between a and b in meters.
func Haversine(a, b Point) float64 {
	rad := math.Pi / 180
	dLat := (b.Lat - a.Lat) * rad
	dLng := (b.Lng - a.Lng) * rad
	h := math.Sin(dLat/2)*math.Sin(dLat/2) + math.Cos(a.Lat*rad)*math.Cos(b.Lat*rad)*math.Sin(dLng/2)*math.Sin(dLng/2)
	return 2 * earthRadiusMeters * math.Asin(math.Min(1, math.Sqrt(h)))
}

// RouteDistance returns the length in meters of route, point by point in order (0 for
// fewer than two points). It is the raw sum: fare, which prices the ride, cleans GPS
// noise itself.
func RouteDistance(route []RoutePoint) int64 {
	var d float64
	for i := 1; i < len(route); i++ {
		d += Haversine(route[i-1].Point, route[i].Point)
	}
	return int64(math.Round(d))
}

// Road and speed assumptions of the request-time estimate: the road distance is the
// straight line times roadFactor, driven at estimateSpeed meters per second.
const (
	roadFactor    = 1.3
	estimateSpeed = 8.33 // 30 km/h
)

// estimateRide returns the distance and duration fare quotes for a ride from pickup to
// dropoff, within fare's bounds (1 to 1,000,000 m, 1 to 86,400 s).
func estimateRide(pickup, dropoff Point) (meters, seconds int64) {
	d := Haversine(pickup, dropoff) * roadFactor
	meters = min(max(int64(math.Round(d)), 1), 1_000_000)
	seconds = min(max(int64(math.Round(float64(meters)/estimateSpeed)), 1), 86_400)
	return meters, seconds
}
