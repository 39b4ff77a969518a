package fare

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/waybill/waybill/kit/caller"
	citycode "github.com/waybill/waybill/kit/city"
	"github.com/waybill/waybill/kit/errs"
	"github.com/waybill/waybill/kit/idempotency"
	"github.com/waybill/waybill/kit/ids"
	"github.com/waybill/waybill/kit/page"
)

// Page sizes of the list calls (kit/page).
const (
	// DefaultPageSize is used when a list call asks for 0.
	DefaultPageSize = 50
	// MaxPageSize caps larger requests.
	MaxPageSize = 500
)

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

// CreateRateCard validates card and writes it as version 1, authored by the caller c.
// It is idempotent by requestID (kit/idempotency): a retry with the same card returns
// version 1 of the card the first call created.
func (s *Service) CreateRateCard(ctx context.Context, c caller.Caller, card RateCard, requestID string) (RateCard, error) {
	if err := mayWrite(c); err != nil {
		return RateCard{}, err
	}
	if err := idempotency.CheckRequestID(requestID, false); err != nil {
		return RateCard{}, err
	}
	// Output-only fields are ignored, and do not count as parameters of the call.
	card.ID, card.Author, card.Version = "", "", 0
	card.CreateTime, card.UpdateTime = time.Time{}, time.Time{}
	key := idempotencyKey("CreateRateCard", c, requestID, card)
	now := s.clock()
	if err := NormalizeRateCard(&card, now); err != nil {
		return RateCard{}, err
	}
	card.Author = c.Subject
	card.Version = 1
	card.CreateTime, card.UpdateTime = now, now
	out, err := s.store.CreateRateCard(ctx, card, key)
	if err != nil {
		return RateCard{}, fmt.Errorf("create rate card: %w", err)
	}
	return out, nil
}

// idempotencyKey returns the idempotency key of method called by c with requestID and
// params (JSON-encoded into the key's hash: the same request id with other parameters
// is refused).
func idempotencyKey(method string, c caller.Caller, requestID string, params any) idempotency.Key {
	b, err := json.Marshal(params)
	if err != nil {
		panic(fmt.Sprintf("fare: the parameters of %s cannot be encoded: %v", method, err)) // plain structs always encode
	}
	return idempotency.Key{Method: method, Subject: c.Subject, RequestID: requestID, Hash: idempotency.Fingerprint(string(b))}
}

// GetRateCard returns version of card id, or the version in effect now for version 0,
// and the latest version number.
func (s *Service) GetRateCard(ctx context.Context, id string, version int64) (RateCard, int64, error) {
	if err := ids.Check("rate_card_id", id); err != nil {
		return RateCard{}, 0, err
	}
	if version < 0 {
		return RateCard{}, 0, errs.Invalid("version", "must be 0 (in effect now) or 1 or more, got %d", version)
	}
	c, latest, err := s.store.RateCard(ctx, id, version, s.clock())
	if err != nil {
		return RateCard{}, 0, fmt.Errorf("get rate card: %w", err)
	}
	return c, latest, nil
}

// ListRateCards returns a page of cards in id order, each in its version in effect now:
// the first page for an empty pageToken, else the page after the one that issued it.
func (s *Service) ListRateCards(ctx context.Context, f RateCardFilter, pageToken string, pageSize int32) (RateCardPage, error) {
	limit, err := page.Limit(int(pageSize), DefaultPageSize, MaxPageSize)
	if err != nil {
		return RateCardPage{}, err
	}
	if f.Key.Kind != KindUnspecified {
		if err := ValidateProductKey("product_key", f.Key); err != nil {
			return RateCardPage{}, err
		}
	}
	filter := page.Fingerprint("ListRateCards", f.Kind, f.Key.Canonical())
	var afterID string
	if _, err := page.Decode(pageToken, filter, &afterID); err != nil {
		return RateCardPage{}, err
	}
	if afterID != "" && !ids.ValidUUID(afterID) {
		return RateCardPage{}, errs.Invalid("page_token", "is malformed; pass the next_page_token of the previous page")
	}
	cards, err := s.store.ListRateCards(ctx, f, afterID, limit+1, s.clock())
	if err != nil {
		return RateCardPage{}, fmt.Errorf("list rate cards: %w", err)
	}
	var p RateCardPage
	if len(cards) > limit {
		cards = cards[:limit]
		p.NextPageToken = page.Encode(cards[limit-1].ID, filter)
	}
	p.Cards = cards
	return p, nil
}

// UpdateRateCard writes a new version of card patch.ID with the fields named in paths
// taken from patch, authored by the caller c. A non-zero patch.Version must be the
// latest version. It is idempotent by requestID (kit/idempotency): a retry with the same
// change returns the version the first call wrote.
func (s *Service) UpdateRateCard(ctx context.Context, c caller.Caller, patch RateCard, paths []string, requestID string) (RateCard, error) {
	if err := mayWrite(c); err != nil {
		return RateCard{}, err
	}
	if err := ids.Check("rate_card.id", patch.ID); err != nil {
		return RateCard{}, err
	}
	if patch.Version < 0 {
		return RateCard{}, errs.Invalid("rate_card.version", "must be 0 or the latest version, got %d", patch.Version)
	}
	if err := ValidateUpdateMask(paths); err != nil {
		return RateCard{}, err
	}
	if err := idempotency.CheckRequestID(requestID, false); err != nil {
		return RateCard{}, err
	}
	// The change is the patch's fields the mask names, in any order.
	sorted := slices.Sorted(slices.Values(paths))
	patch.Author, patch.CreateTime, patch.UpdateTime = "", time.Time{}, time.Time{}
	key := idempotencyKey("UpdateRateCard", c, requestID, struct {
		Patch RateCard
		Paths []string
	}{patch, sorted})
	out, err := s.store.UpdateRateCard(ctx, patch.ID, key, func(latest RateCard) (RateCard, error) {
		if patch.Version != 0 && patch.Version != latest.Version {
			return RateCard{}, stale("rate card", patch.Version, latest.Version)
		}
		return MergeUpdate(latest, patch, paths, c.Subject, s.clock())
	})
	if err != nil {
		return RateCard{}, fmt.Errorf("update rate card: %w", err)
	}
	return out, nil
}

// ListRateCardVersions returns a page of card id's versions, newest first, and the
// token of the next page ("" on the last).
func (s *Service) ListRateCardVersions(ctx context.Context, id, pageToken string, pageSize int32) (cards []RateCard, next string, err error) {
	limit, err := page.Limit(int(pageSize), DefaultPageSize, MaxPageSize)
	if err != nil {
		return nil, "", err
	}
	if err := ids.Check("rate_card_id", id); err != nil {
		return nil, "", err
	}
	filter := page.Fingerprint("ListRateCardVersions", id)
	var before int64
	if ok, err := page.Decode(pageToken, filter, &before); err != nil {
		return nil, "", err
	} else if ok && before < 1 {
		return nil, "", errs.Invalid("page_token", "is malformed; pass the next_page_token of the previous page")
	}
	cards, err = s.store.RateCardVersions(ctx, id, before, limit+1)
	if err != nil {
		return nil, "", fmt.Errorf("list rate card versions: %w", err)
	}
	if len(cards) > limit {
		cards = cards[:limit]
		next = page.Encode(cards[limit-1].Version, filter)
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
		return Quote{}, errs.Missing("", "no rate card for %s is in effect", in.Key.Canonical())
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
// stores all the quotes in one round trip. An invalid input fails the whole batch with
// INVALID_ARGUMENT naming "requests[i].<field>"; an input no rate card prices comes back
// with Priced false and does not fail the others.
func (s *Service) QuoteInventoryBatch(ctx context.Context, ins []InventoryQuoteInput) ([]BatchQuote, error) {
	if len(ins) == 0 || len(ins) > MaxBatchQuotes {
		return nil, errs.Invalid("requests", "must hold 1 to %d requests, got %d", MaxBatchQuotes, len(ins))
	}
	now := s.clock()
	valid := make([]validInventoryInput, len(ins))
	for i, in := range ins {
		nights, loadBps, err := in.Validate(now)
		if err != nil {
			return nil, inRequest(i, err)
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
	card, zones, auto, err := s.store.RideQuoteInputs(ctx, in.Key(), ZoneOf(*in.Pickup), now)
	if err != nil {
		return Quote{}, fmt.Errorf("quote ride: %w", err)
	}
	qs, err := s.store.InsertQuotes(ctx, []Quote{BuildRideQuote(card, zones, auto, in, now)})
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
	if errs.KindOf(err) == errs.NotFound && strings.HasPrefix(zone, AutoZonePrefix) {
		auto, ok, aerr := s.store.ZoneSurge(ctx, strings.TrimPrefix(zone, AutoZonePrefix))
		if aerr != nil {
			return Surge{}, fmt.Errorf("get surge: %w", aerr)
		}
		if ok {
			return auto.AsSurge(city, s.clock()), nil
		}
	}
	if err != nil {
		return Surge{}, fmt.Errorf("get surge: %w", err)
	}
	return z, nil
}

// ListSurges returns a page of a city's zones in zone order, and the token of the next
// page ("" on the last).
func (s *Service) ListSurges(ctx context.Context, city, pageToken string, pageSize int32) (zones []Surge, next string, err error) {
	limit, err := page.Limit(int(pageSize), DefaultPageSize, MaxPageSize)
	if err != nil {
		return nil, "", err
	}
	if err := citycode.Check("city", city); err != nil {
		return nil, "", err
	}
	filter := page.Fingerprint("ListSurges", city)
	var afterZone string
	if _, err := page.Decode(pageToken, filter, &afterZone); err != nil {
		return nil, "", err
	}
	zones, err = s.store.ListSurges(ctx, city, afterZone, limit+1)
	if err != nil {
		return nil, "", fmt.Errorf("list surges: %w", err)
	}
	if len(zones) > limit {
		zones = zones[:limit]
		next = page.Encode(zones[limit-1].Zone, filter)
	}
	return zones, next, nil
}

// SetSurge creates or replaces a zone's surge, set by the caller c. A non-zero
// in.Version must be the zone's current version. It is idempotent by requestID
// (kit/idempotency): a retry with the same surge returns what the first call set, even
// after later changes.
func (s *Service) SetSurge(ctx context.Context, c caller.Caller, in Surge, requestID string) (Surge, error) {
	if err := mayWrite(c); err != nil {
		return Surge{}, err
	}
	now := s.clock()
	if !in.ExpireTime.IsZero() {
		// Stored with microsecond precision: what is returned now must equal what is read later.
		in.ExpireTime = in.ExpireTime.UTC().Truncate(time.Microsecond)
	}
	if err := ValidateSurge(in, now); err != nil {
		return Surge{}, err
	}
	if err := idempotency.CheckRequestID(requestID, false); err != nil {
		return Surge{}, err
	}
	in.Actor, in.CreateTime, in.UpdateTime = "", time.Time{}, time.Time{} // output only
	key := idempotencyKey("SetSurge", c, requestID, in)
	out, err := s.store.SetSurge(ctx, in.City, in.Zone, key, func(cur *Surge) (Surge, error) {
		if in.Version != 0 && (cur == nil || cur.Version != in.Version) {
			current := int64(0)
			if cur != nil {
				current = cur.Version
			}
			return Surge{}, stale("surge", in.Version, current)
		}
		next := in
		next.Actor, next.UpdateTime, next.CreateTime, next.Version = c.Subject, now, now, 1
		if cur != nil {
			next.CreateTime, next.Version = cur.CreateTime, cur.Version+1
		}
		return next, nil
	})
	if err != nil {
		return Surge{}, fmt.Errorf("set surge: %w", err)
	}
	return out, nil
}

// inRequest returns err, an error about one of a batch's requests (number i), with its
// fields prefixed "requests[i].".
func inRequest(i int, err error) error {
	e, ok := errs.As(err)
	if !ok || len(e.Fields) == 0 {
		return err
	}
	fields := make([]errs.FieldViolation, len(e.Fields))
	for j, f := range e.Fields {
		fields[j] = errs.FieldViolation{Field: fmt.Sprintf("requests[%d].%s", i, f.Field), Description: f.Description}
	}
	return errs.InvalidFields(fields...)
}
