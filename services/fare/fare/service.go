package fare

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// Page sizes of the list calls.
const (
	// DefaultPageSize is used when a list call asks for 0.
	DefaultPageSize = 50
	// MaxPageSize caps larger requests.
	MaxPageSize = 500
)

// PageSize returns the effective page size for a requested one (field names it in the
// error for a negative one).
func PageSize(field string, n int32) (int, error) {
	switch {
	case n < 0:
		return 0, Invalid(field, "must not be negative, got %d", n)
	case n == 0:
		return DefaultPageSize, nil
	}
	return int(min(n, MaxPageSize)), nil
}

// Service is the fare service's use cases over a Store.
type Service struct {
	store Store
	now   func() time.Time
}

// New returns a service on store; now is the clock (time.Now when nil).
func New(store Store, now func() time.Time) *Service {
	if now == nil {
		now = time.Now
	}
	return &Service{store: store, now: now}
}

// clock returns the current time, truncated to microseconds as PostgreSQL stores it, so
// a value written and read back compares equal.
func (s *Service) clock() time.Time { return s.now().UTC().Truncate(time.Microsecond) }

// CreateRateCard validates card and writes it as version 1, authored by author.
func (s *Service) CreateRateCard(ctx context.Context, author string, card RateCard, requestID string) (RateCard, error) {
	if err := ValidateRequestID("request_id", requestID); err != nil {
		return RateCard{}, err
	}
	now := s.clock()
	if err := NormalizeRateCard(&card, now); err != nil {
		return RateCard{}, err
	}
	card.ID = ""
	card.Author = author
	card.Version = 1
	card.CreateTime, card.UpdateTime = now, now
	c, err := s.store.CreateRateCard(ctx, card, requestID)
	if err != nil {
		return RateCard{}, fmt.Errorf("create rate card: %w", err)
	}
	return c, nil
}

// GetRateCard returns version of card id, or the version in effect now for version 0,
// and the latest version number.
func (s *Service) GetRateCard(ctx context.Context, id string, version int64) (RateCard, int64, error) {
	if id == "" {
		return RateCard{}, 0, Invalid("rate_card_id", "required")
	}
	if version < 0 {
		return RateCard{}, 0, Invalid("version", "must be 0 (in effect now) or 1 or more, got %d", version)
	}
	c, latest, err := s.store.RateCard(ctx, id, version, s.clock())
	if err != nil {
		return RateCard{}, 0, fmt.Errorf("get rate card: %w", err)
	}
	return c, latest, nil
}

// ListRateCards returns a page of cards after afterID, in id order.
func (s *Service) ListRateCards(ctx context.Context, f RateCardFilter, afterID string, pageSize int) (RateCardPage, error) {
	if f.Key.Kind != KindUnspecified {
		if err := ValidateProductKey("product_key", f.Key); err != nil {
			return RateCardPage{}, err
		}
	}
	cards, err := s.store.ListRateCards(ctx, f, afterID, pageSize+1, s.clock())
	if err != nil {
		return RateCardPage{}, fmt.Errorf("list rate cards: %w", err)
	}
	var p RateCardPage
	if len(cards) > pageSize {
		cards = cards[:pageSize]
		p.Next = cards[pageSize-1].ID
	}
	p.Cards = cards
	return p, nil
}

// UpdateRateCard writes a new version of card patch.ID with the fields named in paths
// taken from patch. A non-zero patch.Version must be the latest version.
func (s *Service) UpdateRateCard(ctx context.Context, author string, patch RateCard, paths []string, requestID string) (RateCard, error) {
	if patch.ID == "" {
		return RateCard{}, Invalid("rate_card.id", "required")
	}
	if patch.Version < 0 {
		return RateCard{}, Invalid("rate_card.version", "must be 0 or the latest version, got %d", patch.Version)
	}
	if err := ValidateUpdateMask(paths); err != nil {
		return RateCard{}, err
	}
	if err := ValidateRequestID("request_id", requestID); err != nil {
		return RateCard{}, err
	}
	c, err := s.store.UpdateRateCard(ctx, patch.ID, requestID, func(latest RateCard) (RateCard, error) {
		if patch.Version != 0 && patch.Version != latest.Version {
			return RateCard{}, fmt.Errorf("%w: version %d given, latest is %d", ErrStaleVersion, patch.Version, latest.Version)
		}
		return MergeUpdate(latest, patch, paths, author, s.clock())
	})
	if err != nil {
		return RateCard{}, fmt.Errorf("update rate card: %w", err)
	}
	return c, nil
}

// ListRateCardVersions returns a page of card id's versions below beforeVersion (0 for
// the newest), newest first; next is the cursor of the next page (0 on the last).
func (s *Service) ListRateCardVersions(ctx context.Context, id string, beforeVersion int64, pageSize int) (cards []RateCard, next int64, err error) {
	if id == "" {
		return nil, 0, Invalid("rate_card_id", "required")
	}
	cards, err = s.store.RateCardVersions(ctx, id, beforeVersion, pageSize+1)
	if err != nil {
		return nil, 0, fmt.Errorf("list rate card versions: %w", err)
	}
	if len(cards) > pageSize {
		cards = cards[:pageSize]
		next = cards[pageSize-1].Version
	}
	return cards, next, nil
}

// QuoteInventory prices seats or a stay from the rate card in effect now (for a seat
// product narrowed to a departure, the departure's card, else the route's) and stores
// the quote.
func (s *Service) QuoteInventory(ctx context.Context, in InventoryQuoteInput) (Quote, error) {
	now := s.clock()
	nights, loadBps, err := in.Validate(now)
	if err != nil {
		return Quote{}, err
	}
	out, err := s.priceInventory(ctx, []validInventoryInput{{in, nights, loadBps}}, now)
	if err != nil {
		return Quote{}, err
	}
	if !out[0].Priced {
		return Quote{}, fmt.Errorf("%w: no rate card in effect for %s", ErrNotFound, in.Key.Canonical())
	}
	return out[0].Quote, nil
}

// MaxBatchQuotes is the most requests QuoteInventoryBatch takes.
const MaxBatchQuotes = 100

// BatchQuote is one request's result in QuoteInventoryBatch: its stored quote, or
// Priced false when no rate card prices its product.
type BatchQuote struct {
	Quote  Quote
	Priced bool
}

// QuoteInventoryBatch prices each input as QuoteInventory does, at the same instant, and
// stores all the quotes in one round trip. An invalid input fails the whole batch with a
// *FieldError naming "requests[i].<field>"; an input no rate card prices comes back with
// Priced false and does not fail the others.
func (s *Service) QuoteInventoryBatch(ctx context.Context, ins []InventoryQuoteInput) ([]BatchQuote, error) {
	if len(ins) == 0 || len(ins) > MaxBatchQuotes {
		return nil, Invalid("requests", "must hold 1 to %d requests, got %d", MaxBatchQuotes, len(ins))
	}
	now := s.clock()
	valid := make([]validInventoryInput, len(ins))
	for i, in := range ins {
		nights, loadBps, err := in.Validate(now)
		if err != nil {
			if fe := (*FieldError)(nil); errors.As(err, &fe) {
				err = Invalid(fmt.Sprintf("requests[%d].%s", i, fe.Field), "%s", fe.Description)
			}
			return nil, err
		}
		valid[i] = validInventoryInput{in, nights, loadBps}
	}
	return s.priceInventory(ctx, valid, now)
}

// validInventoryInput is an input that passed Validate, with what Validate derived.
type validInventoryInput struct {
	in              InventoryQuoteInput
	nights, loadBps int32
}

// priceInventory reads the rate cards of ins in effect at now (one round trip for the
// cards the store has not cached) and stores the quotes of those priced (one more).
func (s *Service) priceInventory(ctx context.Context, ins []validInventoryInput, now time.Time) ([]BatchQuote, error) {
	keyLists := make([][]ProductKey, len(ins))
	for i, v := range ins {
		keyLists[i] = v.in.cardKeys()
	}
	cards, err := s.store.RateCardsInEffect(ctx, keyLists, now)
	if err != nil {
		return nil, fmt.Errorf("quote inventory: %w", err)
	}
	out := make([]BatchQuote, len(ins))
	var quotes []Quote
	var at []int // out's index of each of quotes
	for i, v := range ins {
		if cards[i] != nil {
			quotes = append(quotes, BuildInventoryQuote(*cards[i], v.in, v.nights, v.loadBps, now))
			at = append(at, i)
		}
	}
	if len(quotes) == 0 {
		return out, nil
	}
	stored, err := s.store.InsertQuotes(ctx, quotes)
	if err != nil {
		return nil, fmt.Errorf("quote inventory: %w", err)
	}
	for k, q := range stored {
		out[at[k]] = BatchQuote{Quote: q, Priced: true}
	}
	return out, nil
}

// cardKeys are the product keys whose rate card may price in, in order of preference:
// the product, then (for a seat narrowed to a departure) its route.
func (in InventoryQuoteInput) cardKeys() []ProductKey {
	keys := []ProductKey{in.Key}
	if route, ok := in.Key.RouteKey(); ok {
		keys = append(keys, route)
	}
	return keys
}

// QuoteRide prices a ride from the ride card in effect now and the surge at the pickup
// point, and stores the quote.
func (s *Service) QuoteRide(ctx context.Context, in RideQuoteInput) (Quote, error) {
	if err := in.Validate(); err != nil {
		return Quote{}, err
	}
	now := s.clock()
	card, zones, err := s.store.RideQuoteInputs(ctx, in.Key(), now)
	if err != nil {
		return Quote{}, fmt.Errorf("quote ride: %w", err)
	}
	qs, err := s.store.InsertQuotes(ctx, []Quote{BuildRideQuote(card, zones, in, now)})
	if err != nil {
		return Quote{}, fmt.Errorf("quote ride: %w", err)
	}
	return qs[0], nil
}

// GetSurge returns one zone's surge.
func (s *Service) GetSurge(ctx context.Context, city, zone string) (Surge, error) {
	if err := ValidateZoneRef(city, zone); err != nil {
		return Surge{}, err
	}
	z, err := s.store.Surge(ctx, city, zone)
	if err != nil {
		return Surge{}, fmt.Errorf("get surge: %w", err)
	}
	return z, nil
}

// ListSurges returns a page of a city's zones after afterZone, in zone order; next is
// the cursor of the next page ("" on the last).
func (s *Service) ListSurges(ctx context.Context, city, afterZone string, pageSize int) (zones []Surge, next string, err error) {
	if err := validateCity("city", city); err != nil {
		return nil, "", err
	}
	zones, err = s.store.ListSurges(ctx, city, afterZone, pageSize+1)
	if err != nil {
		return nil, "", fmt.Errorf("list surges: %w", err)
	}
	if len(zones) > pageSize {
		zones = zones[:pageSize]
		next = zones[pageSize-1].Zone
	}
	return zones, next, nil
}

// SetSurge creates or replaces a zone's surge, set by actor. A non-zero in.Version must
// be the zone's current version.
func (s *Service) SetSurge(ctx context.Context, actor string, in Surge, requestID string) (Surge, error) {
	now := s.clock()
	if !in.ExpireTime.IsZero() {
		// Stored with microsecond precision: what is returned now must equal what is read later.
		in.ExpireTime = in.ExpireTime.UTC().Truncate(time.Microsecond)
	}
	if err := ValidateSurge(in, now); err != nil {
		return Surge{}, err
	}
	if err := ValidateRequestID("request_id", requestID); err != nil {
		return Surge{}, err
	}
	out, err := s.store.SetSurge(ctx, in.City, in.Zone, requestID, func(cur *Surge) (Surge, error) {
		next := in
		next.Actor, next.UpdateTime, next.CreateTime, next.Version = actor, now, now, 1
		if cur != nil {
			next.CreateTime, next.Version = cur.CreateTime, cur.Version+1
		}
		if in.Version != 0 && (cur == nil || cur.Version != in.Version) {
			current := int64(0)
			if cur != nil {
				current = cur.Version
			}
			return Surge{}, fmt.Errorf("%w: surge version %d given, current is %d", ErrStaleVersion, in.Version, current)
		}
		return next, nil
	})
	if err != nil {
		return Surge{}, fmt.Errorf("set surge: %w", err)
	}
	return out, nil
}
