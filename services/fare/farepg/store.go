package farepg

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"google.golang.org/protobuf/proto"

	"github.com/waybill/waybill/kit/outbox"
	"github.com/waybill/waybill/kit/pgxutil"
	"github.com/waybill/waybill/services/fare/fare"
)

// EventTypeRateCardUpdated is the type of the event announcing a rate card version.
const EventTypeRateCardUpdated = "fare.rate_card.updated"

// Options configures a Store.
type Options struct {
	// RateCardEvent builds the payload of the event announcing a rate card version.
	// Required.
	RateCardEvent func(fare.RateCard) proto.Message
	// Notify, when set, is called after a transaction that emitted events commits, to
	// wake the outbox sequencer at once (outbox.Log.Notify).
	Notify func()
}

// Store is the fare service's storage on PostgreSQL; it implements fare.Store.
type Store struct {
	pool  *pgxpool.Pool
	opts  Options
	cards cardCache // RateCardsInEffect's
}

var _ fare.Store = (*Store)(nil)

// New returns a store on pool, whose search_path must be the fare schema.
func New(pool *pgxpool.Pool, opts Options) *Store {
	return &Store{pool: pool, opts: opts}
}

// inTx runs fn in a transaction, retrying serialization failures, maps the error once,
// and after a commit that emitted events (rate card versions) clears the rate card cache
// and wakes the sequencer.
func (s *Store) inTx(ctx context.Context, emits bool, fn func(pgx.Tx) error) error {
	err := pgxutil.InTxOpts(ctx, s.pool, pgxutil.TxOptions{MaxRetries: 3}, fn)
	if err != nil {
		return mapError(err)
	}
	if emits {
		s.cards.clear()
	}
	if emits && s.opts.Notify != nil {
		s.opts.Notify()
	}
	return nil
}

// emitRateCard writes the event announcing version c in tx.
func (s *Store) emitRateCard(ctx context.Context, tx pgx.Tx, c fare.RateCard) error {
	err := outbox.Emit(ctx, tx, outbox.Event{Type: EventTypeRateCardUpdated, Key: c.ID, Payload: s.opts.RateCardEvent(c)})
	if err != nil {
		return fmt.Errorf("emit %s: %w", EventTypeRateCardUpdated, err)
	}
	return nil
}

// mapError translates storage errors to the domain's, once. Errors that are already the
// domain's (from an UpdateFunc) pass unchanged.
func mapError(err error) error {
	var fe *fare.FieldError
	if err == nil || errors.As(err, &fe) || errors.Is(err, fare.ErrStaleVersion) || errors.Is(err, fare.ErrNotFound) {
		return err
	}
	m := pgxutil.MapError(err)
	switch {
	case errors.Is(m, pgxutil.ErrNotFound):
		return fmt.Errorf("%w: %w", fare.ErrNotFound, err)
	case errors.Is(m, pgxutil.ErrAlreadyExists):
		return fmt.Errorf("%w: %w", fare.ErrAlreadyExists, err)
	case errors.Is(m, pgxutil.ErrConflict):
		return fmt.Errorf("%w: %w", fare.ErrConflict, err)
	}
	return m
}
