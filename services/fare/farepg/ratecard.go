package farepg

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/waybill/waybill/kit/ids"
	"github.com/waybill/waybill/services/fare/fare"
)

// versionColumns are the columns scanRateCard reads, from rate_card_version aliased v.
const versionColumns = `v.rate_card_id::text, v.version, v.product_key, v.currency_code,
	v.unit_price, v.base_fare, v.per_kilometer, v.per_minute, v.minimum_fare,
	v.has_dynamic, v.min_multiplier_bps, v.max_multiplier_bps, v.load_factor_tiers,
	v.effective_time, v.description, v.author, v.create_time, v.update_time`

// scanRateCard reads versionColumns, then extra destinations.
func scanRateCard(row pgx.Row, extra ...any) (fare.RateCard, error) {
	var (
		c                                      fare.RateCard
		key                                    string
		unit, base, perKm, perMin, minimumFare *int64
		hasDynamic                             bool
		minBps, maxBps                         int32
		tiers                                  []byte
	)
	dest := []any{&c.ID, &c.Version, &key, &c.Currency,
		&unit, &base, &perKm, &perMin, &minimumFare,
		&hasDynamic, &minBps, &maxBps, &tiers,
		&c.EffectiveTime, &c.Description, &c.Author, &c.CreateTime, &c.UpdateTime}
	if err := row.Scan(append(dest, extra...)...); err != nil {
		return fare.RateCard{}, err
	}
	k, err := fare.ParseProductKey(key)
	if err != nil {
		return fare.RateCard{}, err
	}
	c.Key = k
	money := func(p *int64) fare.Money {
		if p == nil {
			return fare.Money{Currency: c.Currency}
		}
		return fare.Money{Amount: *p, Currency: c.Currency}
	}
	if unit != nil {
		c.Inventory = &fare.InventoryPricing{UnitPrice: money(unit)}
	} else {
		c.Ride = &fare.RidePricing{BaseFare: money(base), PerKilometer: money(perKm), PerMinute: money(perMin), MinimumFare: money(minimumFare)}
	}
	if hasDynamic {
		d := &fare.DynamicPricing{MinMultiplierBps: minBps, MaxMultiplierBps: maxBps}
		if err := json.Unmarshal(tiers, &d.Tiers); err != nil {
			return fare.RateCard{}, fmt.Errorf("decode load_factor_tiers: %w", err)
		}
		c.Dynamic = d
	}
	c.EffectiveTime = c.EffectiveTime.UTC()
	c.CreateTime = c.CreateTime.UTC()
	c.UpdateTime = c.UpdateTime.UTC()
	return c, nil
}

// insertVersionSQL writes one rate card version.
const insertVersionSQL = `INSERT INTO rate_card_version (rate_card_id, version, product_key, currency_code,
	unit_price, base_fare, per_kilometer, per_minute, minimum_fare,
	has_dynamic, min_multiplier_bps, max_multiplier_bps, load_factor_tiers,
	effective_time, description, author, create_time, update_time, request_id)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, nullif($19, ''))`

func insertVersion(ctx context.Context, tx pgx.Tx, c fare.RateCard, requestID string) error {
	var unit, base, perKm, perMin, minimumFare *int64
	if c.Inventory != nil {
		unit = &c.Inventory.UnitPrice.Amount
	}
	if r := c.Ride; r != nil {
		base, perKm, perMin, minimumFare = &r.BaseFare.Amount, &r.PerKilometer.Amount, &r.PerMinute.Amount, &r.MinimumFare.Amount
	}
	var minBps, maxBps int32
	tiers := []fare.LoadFactorTier{}
	if d := c.Dynamic; d != nil {
		minBps, maxBps = d.MinMultiplierBps, d.MaxMultiplierBps
		if d.Tiers != nil {
			tiers = d.Tiers
		}
	}
	tiersJSON, err := json.Marshal(tiers)
	if err != nil {
		return fmt.Errorf("encode load_factor_tiers: %w", err)
	}
	_, err = tx.Exec(ctx, insertVersionSQL, c.ID, c.Version, c.Key.Canonical(), c.Currency,
		unit, base, perKm, perMin, minimumFare,
		c.Dynamic != nil, minBps, maxBps, tiersJSON,
		c.EffectiveTime, c.Description, c.Author, c.CreateTime, c.UpdateTime, requestID)
	if err != nil {
		return fmt.Errorf("insert rate card version: %w", err)
	}
	return nil
}

// createCardSQL claims the product key (and the request id). ON CONFLICT on the request
// id makes a concurrent retry wait for the first call and then return no row; a second
// card for the product key fails with a unique violation.
const createCardSQL = `INSERT INTO rate_card (product_key, kind, latest_version, create_time, create_request_id)
VALUES ($1, $2, 1, $3, nullif($4, ''))
ON CONFLICT (create_request_id) DO NOTHING
RETURNING id::text`

const cardByRequestSQL = `SELECT id::text FROM rate_card WHERE create_request_id = $1`

// CreateRateCard implements fare.Store.
func (s *Store) CreateRateCard(ctx context.Context, card fare.RateCard, requestID string) (fare.RateCard, error) {
	var out fare.RateCard
	err := s.inTx(ctx, true, func(tx pgx.Tx) error {
		existing := func() error {
			var id string
			if err := tx.QueryRow(ctx, cardByRequestSQL, requestID).Scan(&id); err != nil {
				return err
			}
			c, err := scanRateCard(tx.QueryRow(ctx, `SELECT `+versionColumns+` FROM rate_card_version v WHERE v.rate_card_id = $1 AND v.version = 1`, id))
			out = c
			return err
		}
		if requestID != "" {
			err := existing()
			if err == nil {
				return nil
			}
			if !errors.Is(err, pgx.ErrNoRows) {
				return fmt.Errorf("look up request id: %w", err)
			}
		}
		var id string
		err := tx.QueryRow(ctx, createCardSQL, card.Key.Canonical(), int16(card.Key.Kind), card.CreateTime, requestID).Scan(&id)
		if errors.Is(err, pgx.ErrNoRows) {
			// A concurrent call with the same request id committed first.
			return existing()
		}
		if err != nil {
			return fmt.Errorf("insert rate card: %w", err)
		}
		card.ID = id
		if err := insertVersion(ctx, tx, card, ""); err != nil {
			return err
		}
		out = card
		return s.emitRateCard(ctx, tx, card)
	})
	if err != nil {
		return fare.RateCard{}, err
	}
	return out, nil
}

// rateCardSQL reads one version of a card, and the card's latest version.
const rateCardSQL = `SELECT ` + versionColumns + `, c.latest_version
FROM rate_card c JOIN rate_card_version v ON v.rate_card_id = c.id AND v.version = $2
WHERE c.id = $1`

// inEffectLateral picks, for card c, the highest version in effect at $now, or when none
// is in effect yet the lowest (version 1): in-effect versions sort first, by -version.
const inEffectLateral = `CROSS JOIN LATERAL (
	SELECT * FROM rate_card_version v
	WHERE v.rate_card_id = c.id
	ORDER BY CASE WHEN v.effective_time <= @now THEN -v.version ELSE v.version END
	LIMIT 1) v`

const rateCardInEffectSQL = `SELECT ` + versionColumns + `, c.latest_version
FROM rate_card c ` + inEffectLateral + `
WHERE c.id = @id`

// RateCard implements fare.Store.
func (s *Store) RateCard(ctx context.Context, id string, version int64, now time.Time) (fare.RateCard, int64, error) {
	if !ids.ValidUUID(id) {
		return fare.RateCard{}, 0, fmt.Errorf("%w: rate card %q", fare.ErrNotFound, id)
	}
	var (
		c      fare.RateCard
		latest int64
		err    error
	)
	if version == 0 {
		c, err = scanRateCard(s.pool.QueryRow(ctx, rateCardInEffectSQL, pgx.NamedArgs{"id": id, "now": now}), &latest)
	} else {
		c, err = scanRateCard(s.pool.QueryRow(ctx, rateCardSQL, id, version), &latest)
	}
	if err != nil {
		return fare.RateCard{}, 0, mapError(fmt.Errorf("read rate card %s version %d: %w", id, version, err))
	}
	return c, latest, nil
}

const listRateCardsSQL = `SELECT ` + versionColumns + `
FROM rate_card c ` + inEffectLateral + `
WHERE (@kind::smallint = 0 OR c.kind = @kind)
  AND (@key::text = '' OR c.product_key = @key)
  AND (@after::uuid IS NULL OR c.id > @after)
ORDER BY c.id
LIMIT @limit`

// ListRateCards implements fare.Store.
func (s *Store) ListRateCards(ctx context.Context, f fare.RateCardFilter, afterID string, limit int, now time.Time) ([]fare.RateCard, error) {
	args := pgx.NamedArgs{"now": now, "kind": int16(f.Kind), "key": "", "after": nil, "limit": limit}
	if f.Key.Kind != fare.KindUnspecified {
		args["key"] = f.Key.Canonical()
	}
	if afterID != "" {
		if !ids.ValidUUID(afterID) {
			return nil, fare.Invalid("page_token", "malformed")
		}
		args["after"] = afterID
	}
	rows, err := s.pool.Query(ctx, listRateCardsSQL, args)
	if err != nil {
		return nil, mapError(fmt.Errorf("list rate cards: %w", err))
	}
	cards, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (fare.RateCard, error) { return scanRateCard(r) })
	if err != nil {
		return nil, mapError(fmt.Errorf("list rate cards: %w", err))
	}
	return cards, nil
}

const (
	lockCardSQL       = `SELECT latest_version FROM rate_card WHERE id = $1 FOR UPDATE`
	versionByReqSQL   = `SELECT ` + versionColumns + ` FROM rate_card_version v WHERE v.rate_card_id = $1 AND v.request_id = $2`
	versionSQL        = `SELECT ` + versionColumns + ` FROM rate_card_version v WHERE v.rate_card_id = $1 AND v.version = $2`
	bumpLatestSQL     = `UPDATE rate_card SET latest_version = $2 WHERE id = $1`
	versionsSQL       = `SELECT ` + versionColumns + ` FROM rate_card_version v WHERE v.rate_card_id = $1 AND ($2::bigint = 0 OR v.version < $2) ORDER BY v.version DESC LIMIT $3`
	cardExistsSQL     = `SELECT EXISTS (SELECT 1 FROM rate_card WHERE id = $1)`
	inEffectByKeysSQL = `SELECT * FROM (
	(SELECT ` + versionColumns + `, 0 AS preference FROM rate_card_version v
	 WHERE v.product_key = $1 AND v.effective_time <= $3 ORDER BY v.version DESC LIMIT 1)
	UNION ALL
	(SELECT ` + versionColumns + `, 1 FROM rate_card_version v
	 WHERE v.product_key = $2 AND v.effective_time <= $3 ORDER BY v.version DESC LIMIT 1)
) best ORDER BY preference LIMIT 1`
)

// UpdateRateCard implements fare.Store. The card's row is locked first, so versions of
// one card are numbered, and their events sequenced, in commit order; a retry with the
// same request id waits for the first call and then finds its version.
func (s *Store) UpdateRateCard(ctx context.Context, id, requestID string, next fare.UpdateFunc) (fare.RateCard, error) {
	if !ids.ValidUUID(id) {
		return fare.RateCard{}, fmt.Errorf("%w: rate card %q", fare.ErrNotFound, id)
	}
	var out fare.RateCard
	err := s.inTx(ctx, true, func(tx pgx.Tx) error {
		var latestVersion int64
		if err := tx.QueryRow(ctx, lockCardSQL, id).Scan(&latestVersion); err != nil {
			return fmt.Errorf("lock rate card %s: %w", id, err)
		}
		if requestID != "" {
			c, err := scanRateCard(tx.QueryRow(ctx, versionByReqSQL, id, requestID))
			if err == nil {
				out = c
				return nil
			}
			if !errors.Is(err, pgx.ErrNoRows) {
				return fmt.Errorf("look up request id: %w", err)
			}
		}
		latest, err := scanRateCard(tx.QueryRow(ctx, versionSQL, id, latestVersion))
		if err != nil {
			return fmt.Errorf("read latest version: %w", err)
		}
		c, err := next(latest)
		if err != nil {
			return err
		}
		c.ID, c.Key, c.Currency, c.CreateTime = latest.ID, latest.Key, latest.Currency, latest.CreateTime
		if err := insertVersion(ctx, tx, c, requestID); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, bumpLatestSQL, id, c.Version); err != nil {
			return fmt.Errorf("bump latest version: %w", err)
		}
		out = c
		return s.emitRateCard(ctx, tx, c)
	})
	if err != nil {
		return fare.RateCard{}, err
	}
	return out, nil
}

// RateCardVersions implements fare.Store.
func (s *Store) RateCardVersions(ctx context.Context, id string, beforeVersion int64, limit int) ([]fare.RateCard, error) {
	if !ids.ValidUUID(id) {
		return nil, fmt.Errorf("%w: rate card %q", fare.ErrNotFound, id)
	}
	rows, err := s.pool.Query(ctx, versionsSQL, id, beforeVersion, limit)
	if err != nil {
		return nil, mapError(fmt.Errorf("list versions: %w", err))
	}
	cards, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (fare.RateCard, error) { return scanRateCard(r) })
	if err != nil {
		return nil, mapError(fmt.Errorf("list versions: %w", err))
	}
	if len(cards) == 0 {
		var exists bool
		if err := s.pool.QueryRow(ctx, cardExistsSQL, id).Scan(&exists); err != nil {
			return nil, mapError(fmt.Errorf("look up rate card: %w", err))
		}
		if !exists {
			return nil, fmt.Errorf("%w: rate card %s", fare.ErrNotFound, id)
		}
	}
	return cards, nil
}

// RateCardsInEffect implements fare.Store. Each distinct key list the cache cannot
// answer costs one query, a backward index scan of rate_card_version_key per key (at
// most two) that stops at the first version in effect; the queries go out as one
// pipelined batch. Answers are reused for CardCacheTTL of now (see CardCacheTTL for what
// that bounds); callers must not modify the cards.
func (s *Store) RateCardsInEffect(ctx context.Context, keyLists [][]fare.ProductKey, now time.Time) ([]*fare.RateCard, error) {
	out := make([]*fare.RateCard, len(keyLists))
	queued := map[string][]int{} // cache key → the lists waiting for its query
	b := &pgx.Batch{}
	for i, keys := range keyLists {
		if len(keys) == 0 || len(keys) > 2 {
			return nil, fmt.Errorf("rate card in effect: want 1 or 2 keys, got %d", len(keys))
		}
		first, second := keys[0].Canonical(), ""
		if len(keys) == 2 {
			second = keys[1].Canonical()
		}
		cacheKey := first + "\n" + second
		cached, ok, gen := s.cards.get(cacheKey, now)
		if ok {
			out[i] = &cached
			continue
		}
		if waiting, ok := queued[cacheKey]; ok {
			queued[cacheKey] = append(waiting, i)
			continue
		}
		queued[cacheKey] = []int{i}
		b.Queue(inEffectByKeysSQL, first, second, now).QueryRow(func(row pgx.Row) error {
			var preference int
			c, err := scanRateCard(row, &preference)
			if errors.Is(err, pgx.ErrNoRows) {
				return nil
			}
			if err != nil {
				return fmt.Errorf("rate card in effect for %s: %w", first, err)
			}
			s.cards.put(cacheKey, c, now, gen)
			for _, j := range queued[cacheKey] {
				out[j] = &c
			}
			return nil
		})
	}
	if b.Len() > 0 {
		if err := s.pool.SendBatch(ctx, b).Close(); err != nil {
			return nil, mapError(err)
		}
	}
	return out, nil
}
