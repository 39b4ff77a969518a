package farepg

import (
	"fmt"

	"github.com/jackc/pgx/v5/pgxpool"
	"google.golang.org/protobuf/proto"

	"github.com/waybill/waybill/kit/errs"
	"github.com/waybill/waybill/kit/idempotency/idempotencypg"
	"github.com/waybill/waybill/kit/outbox"
	"github.com/waybill/waybill/kit/pgxutil"
	"github.com/waybill/waybill/kit/txn"
	"github.com/waybill/waybill/services/fare/fare"
)

// Options configures a Store.
type Options struct {
	// RateCardEvent builds the payload of the event announcing a rate card version.
	// Required.
	RateCardEvent func(fare.RateCard) proto.Message
	// FareEvent builds the payload of the event announcing a ride fare. Required.
	FareEvent func(fare.Fare) proto.Message
	// Notify, when set, is called after a transaction that emitted events commits, to
	// wake the outbox sequencer at once (outbox.Log.Notify).
	Notify func()
}

// Store is the fare service's storage on PostgreSQL; it implements fare.Store.
type Store struct {
	pool  *pgxpool.Pool
	tx    *txn.Runner
	keys  *idempotencypg.Keys
	opts  Options
	cards cardCache // RateCardsInEffect's
}

var _ fare.Store = (*Store)(nil)

// New returns a store on pool, whose search_path must be the fare schema.
func New(pool *pgxpool.Pool, opts Options) *Store {
	return &Store{
		pool: pool,
		tx:   txn.New(pool, txn.Options{Notify: opts.Notify}),
		keys: idempotencypg.New(idempotencypg.Options{}),
		opts: opts,
	}
}

// constraints maps the fare schema's named constraints to fare's errors.
var constraints = pgxutil.Constraints{
	"rate_card_product_key_key": errs.Exists("", "a rate card already prices this product key: update it instead"),
}

// rateCardEvent is the event announcing version c.
func (s *Store) rateCardEvent(c fare.RateCard) outbox.Event {
	return outbox.Event{Type: fare.EventTypeRateCardUpdated, Key: c.ID, Payload: s.opts.RateCardEvent(c)}
}

// wrap returns err with what failed, mapped to the domain's errors.
func wrap(err error, format string, args ...any) error {
	return pgxutil.MapError(fmt.Errorf(format+": %w", append(args, err)...))
}
