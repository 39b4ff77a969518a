package consumer

import (
	"testing"
	"time"

	"google.golang.org/protobuf/types/known/timestamppb"

	eventsv1 "github.com/waybill/waybill/gen/waybill/events/v1"
)

// TestLagState: the gauges count the events received and not yet applied, and age the
// oldest of them; a batch applied elsewhere (nothing newer than seq to apply here) still
// brings them to zero.
func TestLagState(t *testing.T) {
	t0 := time.Unix(1_000_000, 0)
	ev := func(seq int64) *eventsv1.Event {
		return &eventsv1.Event{Sequence: seq, OccurredTime: timestamppb.New(t0.Add(time.Duration(seq) * time.Second))}
	}
	var l lagState
	l.reset(10)
	for seq := int64(11); seq <= 13; seq++ {
		l.received(ev(seq))
	}
	if n, age := l.observe(t0.Add(20 * time.Second)); n != 3 || age != 9*time.Second {
		t.Fatalf("3 waiting since event 11: lag %d events, %v", n, age)
	}
	l.applied(11, ev(11))
	if n, age := l.observe(t0.Add(20 * time.Second)); n != 2 || age != 9*time.Second {
		t.Fatalf("2 waiting, the next one after event 11: lag %d events, %v", n, age)
	}
	l.applied(13, nil) // every event was skipped: the batch had been applied already
	if n, age := l.observe(t0.Add(20 * time.Second)); n != 0 || age != 0 {
		t.Fatalf("all applied: lag %d events, %v", n, age)
	}
}
