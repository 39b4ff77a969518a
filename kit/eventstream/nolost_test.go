package eventstream_test

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/structpb"

	eventsv1 "github.com/waybill/waybill/gen/waybill/events/v1"
	"github.com/waybill/waybill/kit/eventstream"
	"github.com/waybill/waybill/kit/outbox"
	"github.com/waybill/waybill/kit/txn"
)

// TestNoLostEvents is the guarantee the backbone exists for. 16 writers run short
// transactions that bump an aggregate row's counter and emit an event carrying it;
// about a fifth roll back, and a few transactions insert their event early and stay open
// for 1–2 s while the others commit (a lower outbox id committing late: the trap for a
// log that trusts bigserial). Meanwhile three subscribers stream through gRPC: one from
// the start, one that joins late and catches up under load, and one that keeps
// disconnecting and resuming from its cursor. Each must receive every committed event
// exactly once, none of the rolled-back ones, each key's events in the key's commit
// order (the counter goes 1, 2, 3, …), with sequence numbers 1, 2, 3, ….
func TestNoLostEvents(t *testing.T) {
	t.Parallel()
	const (
		writers     = 16
		keys        = 32
		writeFor    = 3 * time.Second
		rollbackPct = 20
	)
	e := newEnv(t, envOptions{
		log:    outbox.Options{BatchSize: 64},
		server: eventstream.ServerOptions{PageSize: 50},
	})
	ctx := context.Background()
	allKeys := make([]string, 0, keys+3)
	for i := range keys {
		allKeys = append(allKeys, fmt.Sprintf("item-%d", i))
	}
	longKeys := []string{"long-0", "long-1", "long-2"}
	allKeys = append(allKeys, longKeys...)
	if _, err := e.pool.Exec(ctx, "INSERT INTO item (id) SELECT unnest($1::text[])", allKeys); err != nil {
		t.Fatal(err)
	}

	type written struct {
		key string
		n   int64
	}
	var (
		mu         sync.Mutex
		committed  = map[string]written{} // token → what its event carries
		rolledBack = map[string]bool{}
	)
	errRollback := errors.New("rollback on purpose")
	// bump runs one transaction on key, which emits its event with the commit (kit/txn's
	// Emit). With hold, it writes the event at once instead and then stays open that
	// long: its outbox id is lower than those of the transactions that commit meanwhile.
	// (kit/txn wakes the sequencer only for Emit's events; the poll finds those.)
	bump := func(token, key string, hold time.Duration, rollback bool) {
		var n int64
		err := e.txn.Run(ctx, func(tx *txn.Tx) error {
			// The aggregate's row first: this serializes the key's transactions.
			if err := tx.QueryRow(ctx, "UPDATE item SET n = n + 1 WHERE id = $1 RETURNING n", key).Scan(&n); err != nil {
				return err
			}
			payload, err := structpb.NewStruct(map[string]any{"n": n, "tx": token})
			if err != nil {
				return err
			}
			ev := outbox.Event{Type: typeBumped, Key: key, Payload: payload}
			if hold == 0 {
				tx.Emit(ev)
			} else {
				b := &pgx.Batch{}
				if err := outbox.Queue(ctx, b, ev); err != nil {
					return err
				}
				if err := tx.SendBatch(ctx, b).Close(); err != nil {
					return err
				}
				time.Sleep(hold)
			}
			if rollback {
				return errRollback
			}
			return nil
		})
		mu.Lock()
		defer mu.Unlock()
		switch {
		case err == nil:
			committed[token] = written{key, n}
		case errors.Is(err, errRollback):
			rolledBack[token] = true
		default:
			t.Errorf("transaction %s: %v", token, err)
		}
	}

	streamCtx, stopStreams := context.WithCancel(ctx)
	defer stopStreams()
	collectors := map[string]*collector{
		"from the start": newCollector(),
		"joined late":    newCollector(),
		"reconnecting":   newCollector(),
	}
	var streams sync.WaitGroup
	streams.Go(func() { collectors["from the start"].follow(t, streamCtx, e.client, 0) })
	streams.Go(func() {
		select {
		case <-time.After(writeFor / 2):
			collectors["joined late"].follow(t, streamCtx, e.client, 0)
		case <-streamCtx.Done():
		}
	})
	streams.Go(func() { collectors["reconnecting"].follow(t, streamCtx, e.client, 300*time.Millisecond) })

	start := time.Now()
	var wg sync.WaitGroup
	for w := range writers {
		wg.Go(func() {
			rng := rand.New(rand.NewPCG(uint64(w), uint64(start.UnixNano())))
			for i := 0; time.Since(start) < writeFor; i++ {
				key := allKeys[rng.IntN(keys)]
				if w == 0 && rng.IntN(10) == 0 {
					key = longKeys[rng.IntN(len(longKeys))] // waits behind a long transaction
				}
				bump(fmt.Sprintf("w%d-%d", w, i), key, 0, rng.IntN(100) < rollbackPct)
			}
		})
	}
	for i, key := range longKeys {
		wg.Go(func() {
			time.Sleep(time.Duration(200+400*i) * time.Millisecond)
			hold := time.Second + time.Duration(i)*500*time.Millisecond
			bump(fmt.Sprintf("long-%d", i), key, hold, i == 1)
		})
	}
	wg.Wait()
	mu.Lock()
	want := len(committed)
	mu.Unlock()
	if !rolledBack["long-1"] || committed["long-0"].n == 0 || committed["long-2"].n == 0 {
		t.Fatalf("long transactions did not end as planned")
	}
	t.Logf("%d transactions committed, %d rolled back in %v", want, len(rolledBack), time.Since(start).Round(time.Millisecond))

	for name, c := range collectors {
		if !c.waitFor(want, 30*time.Second) {
			t.Errorf("%s: received %d of %d events", name, c.count(), want)
		}
	}
	time.Sleep(300 * time.Millisecond) // room for an extra event to show up
	stopStreams()
	streams.Wait()

	for name, c := range collectors {
		perKey := map[string]int64{}
		seen := map[string]bool{}
		for i, ev := range c.events {
			if ev.GetSequence() != int64(i+1) {
				t.Fatalf("%s: event %d has sequence %d, want %d", name, i, ev.GetSequence(), i+1)
			}
			var p structpb.Struct
			if err := ev.GetPayload().UnmarshalTo(&p); err != nil {
				t.Fatalf("%s: payload: %v", name, err)
			}
			token, n := p.Fields["tx"].GetStringValue(), int64(p.Fields["n"].GetNumberValue())
			switch {
			case rolledBack[token]:
				t.Fatalf("%s: received rolled-back event %s", name, token)
			case seen[token]:
				t.Fatalf("%s: received %s twice", name, token)
			case committed[token] != written{ev.GetKey(), n}:
				t.Fatalf("%s: event %s (%s, %d) was never committed as such", name, token, ev.GetKey(), n)
			case n != perKey[ev.GetKey()]+1:
				t.Fatalf("%s: key %s: counter %d after %d: out of commit order", name, ev.GetKey(), n, perKey[ev.GetKey()])
			}
			seen[token] = true
			perKey[ev.GetKey()] = n
		}
		if len(seen) != want {
			t.Errorf("%s: %d distinct events, want %d", name, len(seen), want)
		}
		if c.reconnects > 0 {
			t.Logf("%s: resumed %d times", name, c.reconnects)
		}
	}
}

// collector subscribes and keeps what it receives.
type collector struct {
	mu         sync.Mutex
	events     []*eventsv1.Event
	changed    chan struct{}
	reconnects int
}

func newCollector() *collector { return &collector{changed: make(chan struct{}, 1)} }

// follow subscribes from the start and collects events until ctx ends. With a
// positive every, it drops the stream after a random time up to every and resumes from
// the last cursor it received (an event's or a heartbeat's).
func (c *collector) follow(t *testing.T, ctx context.Context, client eventsv1.EventStreamServiceClient, every time.Duration) {
	after := ""
	for ctx.Err() == nil {
		sctx, cancel := context.WithCancel(ctx)
		if every > 0 {
			sctx, cancel = context.WithTimeout(ctx, every/4+rand.N(every))
		}
		cs, err := client.Subscribe(sctx, &eventsv1.SubscribeRequest{AfterCursor: after})
		for err == nil {
			var msg *eventsv1.SubscribeResponse
			if msg, err = cs.Recv(); err != nil {
				break
			}
			after = msg.GetCursor()
			if !msg.GetHeartbeat() {
				c.add(msg.GetEvent())
			}
		}
		cancel()
		if code := status.Code(err); ctx.Err() == nil && code != codes.DeadlineExceeded {
			t.Errorf("stream ended with %v", err)
			return
		}
		c.reconnects++
	}
	c.reconnects--
}

func (c *collector) add(ev *eventsv1.Event) {
	c.mu.Lock()
	c.events = append(c.events, ev)
	c.mu.Unlock()
	select {
	case c.changed <- struct{}{}:
	default:
	}
}

func (c *collector) count() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.events)
}

func (c *collector) waitFor(n int, timeout time.Duration) bool {
	deadline := time.After(timeout)
	for c.count() < n {
		select {
		case <-c.changed:
		case <-deadline:
			return false
		}
	}
	return true
}
