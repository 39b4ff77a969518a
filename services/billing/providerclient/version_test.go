package providerclient

import (
	"testing"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	reservationv1 "github.com/waybill/waybill/gen/waybill/reservation/v1"
)

// TestDetailsVersion reads the version billing keeps details by from their encoding,
// and 0 from details without one or bytes that are not a message.
func TestDetailsVersion(t *testing.T) {
	enc := func(d *reservationv1.ReservationDetails) []byte {
		b, err := proto.Marshal(d)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	full := enc(&reservationv1.ReservationDetails{Id: "r1", Title: "LH 100", UpdateTime: timestamppb.Now(), Version: 42,
		Timeline: []*reservationv1.TimelineEntry{{Label: "changed"}}})
	for _, c := range []struct {
		name string
		raw  []byte
		want int64
	}{
		{"full details", full, 42},
		{"no version", enc(&reservationv1.ReservationDetails{Id: "r1"}), 0},
		{"truncated", full[:len(full)-1], 0},
		{"nothing", nil, 0},
	} {
		if got := detailsVersion(c.raw); got != c.want {
			t.Errorf("%s: version %d, want %d", c.name, got, c.want)
		}
	}
}
