package fare

import (
	"context"
	"time"

	"github.com/waybill/waybill/kit/idempotency"
)

// Store is the storage the fare service needs. Implementations return kit/errs errors
// (NotFound, AlreadyExists, Aborted for a lost race, …), or whatever an UpdateFunc or
// SurgeFunc returned.
//
// The three writes are retriable mutations: each claims its idempotency key (kit/
// idempotency; a key with an empty RequestID claims nothing) in the transaction of the
// change, after serializing on what it changes (the product key, the card, the zone), so
// a retry that arrives while the first call runs waits for it, and then answers with
// the first call's result without changing anything. The key's Hash holds the call's
// parameters: the same request id with others fails with INVALID_ARGUMENT.
type Store interface {
	// CreateRateCard writes version 1 of a new card (ID, CreateTime and UpdateTime are
	// assigned) and emits its event, in one transaction. A retry of key returns version 1
	// of the card the first call created. A card for the same product key fails with
	// AlreadyExists.
	CreateRateCard(ctx context.Context, card RateCard, key idempotency.Key) (RateCard, error)
	// RateCard returns version of card id, or with version 0 the version in effect at
	// now (version 1 when none is in effect yet), and the card's latest version number.
	RateCard(ctx context.Context, id string, version int64, now time.Time) (card RateCard, latest int64, err error)
	// ListRateCards returns up to limit cards with ids after afterID in id order, each in
	// its version in effect at now, filtered by f.
	ListRateCards(ctx context.Context, f RateCardFilter, afterID string, limit int, now time.Time) ([]RateCard, error)
	// UpdateRateCard locks card id, and unless key was completed before (it then returns
	// the version that call wrote), calls next with the latest version and writes and
	// announces the version next returns. next's error is returned as is.
	UpdateRateCard(ctx context.Context, id string, key idempotency.Key, next UpdateFunc) (RateCard, error)
	// RateCardVersions returns up to limit versions of card id below beforeVersion (0 for
	// no bound), newest first; NotFound when the card does not exist.
	RateCardVersions(ctx context.Context, id string, beforeVersion int64, limit int) ([]RateCard, error)
	// RateCardsInEffect returns, for each list of keys, the version in effect at now of
	// the card of the first key in the list that has one, or nil when none has.
	RateCardsInEffect(ctx context.Context, keyLists [][]ProductKey, now time.Time) ([]*RateCard, error)
	// InsertQuotes stores quotes, all or none, and returns them with their IDs, in order.
	InsertQuotes(ctx context.Context, qs []Quote) ([]Quote, error)
	// RideQuoteInputs returns, in one round trip, the version of the ride card of key in
	// effect at now (NotFound when none is), every surge zone of the key's city and the
	// automatic surge of zone cell (nil when it has none).
	RideQuoteInputs(ctx context.Context, key ProductKey, cell string, now time.Time) (RateCard, []Surge, *ZoneSurge, error)
	// ZoneSurge returns the automatic surge of a cell, ok false when it has none.
	ZoneSurge(ctx context.Context, cell string) (z ZoneSurge, ok bool, err error)
	// Surge returns one zone's surge; NotFound for a zone never set.
	Surge(ctx context.Context, city, zone string) (Surge, error)
	// ListSurges returns up to limit zones of city after afterZone, in zone order.
	ListSurges(ctx context.Context, city, afterZone string, limit int) ([]Surge, error)
	// SetSurge serializes on the zone and, unless key was completed before (it then
	// returns the surge that call set, as it was set), calls next with the zone's current
	// surge (nil for a zone never set) and writes what next returns.
	SetSurge(ctx context.Context, city, zone string, key idempotency.Key, next SurgeFunc) (Surge, error)
	// RideStore holds ride fares (ridestore.go).
	RideStore
}

// SurgeFunc computes a zone's new surge from its current one (nil when never set).
type SurgeFunc func(current *Surge) (Surge, error)

// UpdateFunc computes the next version of a rate card from its latest version.
type UpdateFunc func(latest RateCard) (RateCard, error)

// RateCardFilter selects rate cards; zero fields select all.
type RateCardFilter struct {
	// Kind selects cards of one kind.
	Kind ProductKind
	// Key, when its Kind is set, selects the card of exactly that key.
	Key ProductKey
}
