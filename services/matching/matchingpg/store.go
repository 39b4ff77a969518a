package matchingpg

import (
	"encoding/json"
	"fmt"

	"github.com/jackc/pgx/v5/pgxpool"
	"google.golang.org/protobuf/proto"

	"github.com/waybill/waybill/kit/errs"
	"github.com/waybill/waybill/kit/idempotency/idempotencypg"
	"github.com/waybill/waybill/kit/outbox"
	"github.com/waybill/waybill/kit/pgxutil"
	"github.com/waybill/waybill/kit/txn"
	"github.com/waybill/waybill/services/matching/matching"
)

// Options configures a Store.
type Options struct {
	// Encode turns a domain event into its payload message (the transport's converter).
	// Required.
	Encode func(matching.Event) (proto.Message, error)
	// Notify, when set, is called after a transaction that emitted events commits, to
	// wake the outbox sequencer at once (outbox.Log.Notify).
	Notify func()
	// Keys claims idempotency keys; nil means idempotencypg.New with its defaults.
	Keys *idempotencypg.Keys
}

// Store is the matching service's storage on PostgreSQL; it implements matching.Store.
type Store struct {
	pool *pgxpool.Pool
	tx   *txn.Runner
	keys *idempotencypg.Keys
	opts Options
}

var _ matching.Store = (*Store)(nil)

// New returns a store on pool, whose search_path must be the matching schema.
func New(pool *pgxpool.Pool, opts Options) *Store {
	keys := opts.Keys
	if keys == nil {
		keys = idempotencypg.New(idempotencypg.Options{})
	}
	return &Store{pool: pool, tx: txn.New(pool, txn.Options{Notify: opts.Notify}), keys: keys, opts: opts}
}

// constraints maps the matching schema's named constraints to matching's errors.
var constraints = pgxutil.Constraints{
	"driver_city_plate_key": matching.ErrPlateTaken,
	"match_trip_active_key": matching.ErrTripHasMatch,
	// The guards against double assignment: a change that would give a driver a second
	// pending offer or a second ride fails, whatever Go decided.
	"match_driver_assigned_key": errs.Precondition(matching.ReasonDriverBusy, "the driver already has a ride"),
	"offer_driver_pending_key":  errs.Precondition(matching.ReasonDriverBusy, "the driver already holds a pending offer"),
	"offer_match_driver_key":    errs.Precondition(matching.ReasonDriverBusy, "the driver was already offered this match"),
}

// event returns ev as an outbox event, its payload encoded by the transport.
func (s *Store) event(ev matching.Event) (outbox.Event, error) {
	payload, err := s.opts.Encode(ev)
	if err != nil {
		return outbox.Event{}, fmt.Errorf("encode event %s: %w", ev.Type, err)
	}
	return outbox.Event{Type: ev.Type, Key: ev.Key, Payload: payload}, nil
}

// wrap returns err with what failed, mapped to the domain's errors.
func wrap(err error, format string, args ...any) error {
	return pgxutil.MapError(fmt.Errorf(format+": %w", append(args, err)...))
}

// encodeResult is a driver as an idempotency key stores it: the domain's own JSON.
func encodeResult(d matching.Driver) ([]byte, error) {
	b, err := json.Marshal(d)
	if err != nil {
		return nil, fmt.Errorf("encode driver %s: %w", d.ID, err)
	}
	return b, nil
}

// decodeResult reads what encodeResult stored for request id.
func decodeResult(b []byte, requestID string) (matching.Driver, error) {
	var d matching.Driver
	if err := json.Unmarshal(b, &d); err != nil {
		return matching.Driver{}, fmt.Errorf("decode the driver stored for request id %q: %w", requestID, err)
	}
	return d, nil
}
