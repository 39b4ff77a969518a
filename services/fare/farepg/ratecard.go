package farepg

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/waybill/waybill/kit/errs"
	"github.com/waybill/waybill/kit/idempotency"
	"github.com/waybill/waybill/kit/ids"
	"github.com/waybill/waybill/kit/money"
	"github.com/waybill/waybill/kit/pgxutil"
	"github.com/waybill/waybill/kit/txn"
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
	amount := func(p *int64) money.Money {
		if p == nil {
			return money.Money{Currency: c.Currency}
		}
		return money.New(*p, c.Currency)
	}
	if unit != nil {
		c.Inventory = &fare.InventoryPricing{UnitPrice: amount(unit)}
	} else {
		c.Ride = &fare.RidePricing{BaseFare: amount(base), PerKilometer: amount(perKm), PerMinute: amount(perMin), MinimumFare: amount(minimumFare)}
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
	effective_time, description, author, create_time, update_time)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18)`

// queueVersion queues the insert of version c onto b.
func queueVersion(b *pgx.Batch, c fare.RateCard) error {
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
	b.Queue(insertVersionSQL, c.ID, c.Version, c.Key.Canonical(), c.Currency,
		unit, base, perKm, perMin, minimumFare,
		c.Dynamic != nil, minBps, maxBps, tiersJSON,
		c.EffectiveTime, c.Description, c.Author, c.CreateTime, c.UpdateTime)
	return nil
}

const (
	// lockProductKeySQL serializes the creates of one product key, until the end of the
	// transaction.
	lockProductKeySQL = `SELECT pg_advisory_xact_lock(hashtext('fare.rate_card'), hashtext($1))`
	insertCardSQL     = `INSERT INTO rate_card (id, product_key, kind, latest_version, create_time) VALUES ($1, $2, $3, 1, $4)`
	versionSQL        = `SELECT ` + versionColumns + ` FROM rate_card_version v WHERE v.rate_card_id = $1 AND v.version = $2`
)

// CreateRateCard implements fare.Store. Creates of one product key serialize (the
// product key's advisory lock, then the idempotency claim, in the batch that begins the
// transaction), so a retry that arrives while the first call runs waits for it and
// then replays it: version 1 of the card whose id the key stores. The card's id is
// chosen here, so the claim stores it with the key in one statement.
func (s *Store) CreateRateCard(ctx context.Context, card fare.RateCard, key idempotency.Key) (fare.RateCard, error) {
	card.ID = ids.New()
	var out fare.RateCard
	wrote := false
	err := s.tx.Run(ctx, func(tx *txn.Tx) error {
		wrote = false
		b := &pgx.Batch{}
		b.Queue(lockProductKeySQL, card.Key.Canonical())
		claim := s.keys.QueueWith(b, key, []byte(card.ID))
		c, err := claim.ReadAfter(tx.SendBatch(ctx, b), func(br pgx.BatchResults) error {
			_, err := br.Exec()
			return err
		})
		if err != nil {
			return err
		}
		if c.Replayed {
			id := string(c.Result)
			out, err = scanRateCard(tx.QueryRow(ctx, versionSQL, id, 1))
			if err != nil {
				return fmt.Errorf("read rate card %s, created by the first call with this request id: %w", id, err)
			}
			return nil
		}
		b = &pgx.Batch{}
		b.Queue(insertCardSQL, card.ID, card.Key.Canonical(), int16(card.Key.Kind), card.CreateTime)
		if err := queueVersion(b, card); err != nil {
			return err
		}
		if err := tx.SendBatch(ctx, b).Close(); err != nil {
			return constraints.Map(fmt.Errorf("insert rate card: %w", err))
		}
		tx.Emit(s.rateCardEvent(card))
		out, wrote = card, true
		return nil
	})
	if err != nil {
		return fare.RateCard{}, err
	}
	if wrote {
		s.cards.clear()
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
		return fare.RateCard{}, 0, errs.Missing("", "rate card %q not found", id)
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
		if version == 0 {
			return fare.RateCard{}, 0, pgxutil.MapNotFound(err, "rate card %s not found", id)
		}
		return fare.RateCard{}, 0, pgxutil.MapNotFound(err, "rate card %s has no version %d", id, version)
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
		args["after"] = afterID
	}
	rows, err := s.pool.Query(ctx, listRateCardsSQL, args)
	if err != nil {
		return nil, wrap(err, "list rate cards")
	}
	cards, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (fare.RateCard, error) { return scanRateCard(r) })
	if err != nil {
		return nil, wrap(err, "list rate cards")
	}
	return cards, nil
}

const (
	// lockCardSQL locks card $1; latestSQL, the next statement, reads its latest version
	// (in a statement of its own: a join locked FOR UPDATE would, after waiting for a
	// concurrent update of the card, recheck the join against the new latest_version and
	// find no row).
	lockCardSQL = `SELECT FROM rate_card WHERE id = $1 FOR UPDATE`
	latestSQL   = `SELECT ` + versionColumns + `
FROM rate_card c JOIN rate_card_version v ON v.rate_card_id = c.id AND v.version = c.latest_version
WHERE c.id = $1`
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
// one card are numbered, and their events sequenced, in commit order; the idempotency
// claim follows in the same batch, so a retry that arrives while the first call runs
// waits for the lock and then replays the version the key stores. The new version, the
// card's bump and the key's completion go out as one batch, the event with the commit.
func (s *Store) UpdateRateCard(ctx context.Context, id string, key idempotency.Key, next fare.UpdateFunc) (fare.RateCard, error) {
	if !ids.ValidUUID(id) {
		return fare.RateCard{}, errs.Missing("", "rate card %q not found", id)
	}
	var out fare.RateCard
	wrote := false
	err := s.tx.Run(ctx, func(tx *txn.Tx) error {
		wrote = false
		b := &pgx.Batch{}
		b.Queue(lockCardSQL, id)
		b.Queue(latestSQL, id)
		claim := s.keys.Queue(b, key)
		var latest fare.RateCard
		c, err := claim.ReadAfter(tx.SendBatch(ctx, b), func(br pgx.BatchResults) error {
			if _, err := br.Exec(); err != nil {
				return fmt.Errorf("lock rate card %s: %w", id, err)
			}
			var err error
			if latest, err = scanRateCard(br.QueryRow()); errors.Is(err, pgx.ErrNoRows) {
				return errs.Missing("", "rate card %s not found", id)
			} else if err != nil {
				return fmt.Errorf("read rate card %s: %w", id, err)
			}
			return nil
		})
		if err != nil {
			return err
		}
		if c.Replayed {
			v, err := strconv.ParseInt(string(c.Result), 10, 64)
			if err != nil {
				return fmt.Errorf("decode the version stored for request id %q: %w", key.RequestID, err)
			}
			out, err = scanRateCard(tx.QueryRow(ctx, versionSQL, id, v))
			if err != nil {
				return fmt.Errorf("read rate card %s version %d, written by the first call with this request id: %w", id, v, err)
			}
			return nil
		}
		nc, err := next(latest)
		if err != nil {
			return err
		}
		nc.ID, nc.Key, nc.Currency, nc.CreateTime = latest.ID, latest.Key, latest.Currency, latest.CreateTime
		b = &pgx.Batch{}
		if err := queueVersion(b, nc); err != nil {
			return err
		}
		b.Queue(bumpLatestSQL, id, nc.Version)
		if err := c.QueueComplete(b, []byte(strconv.FormatInt(nc.Version, 10))); err != nil {
			return err
		}
		if err := tx.SendBatch(ctx, b).Close(); err != nil {
			return fmt.Errorf("write rate card %s version %d: %w", id, nc.Version, err)
		}
		tx.Emit(s.rateCardEvent(nc))
		out, wrote = nc, true
		return nil
	})
	if err != nil {
		return fare.RateCard{}, err
	}
	if wrote {
		s.cards.clear()
	}
	return out, nil
}

// RateCardVersions implements fare.Store.
func (s *Store) RateCardVersions(ctx context.Context, id string, beforeVersion int64, limit int) ([]fare.RateCard, error) {
	if !ids.ValidUUID(id) {
		return nil, errs.Missing("", "rate card %q not found", id)
	}
	rows, err := s.pool.Query(ctx, versionsSQL, id, beforeVersion, limit)
	if err != nil {
		return nil, wrap(err, "list versions of rate card %s", id)
	}
	cards, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (fare.RateCard, error) { return scanRateCard(r) })
	if err != nil {
		return nil, wrap(err, "list versions of rate card %s", id)
	}
	if len(cards) == 0 {
		var exists bool
		if err := s.pool.QueryRow(ctx, cardExistsSQL, id).Scan(&exists); err != nil {
			return nil, wrap(err, "look up rate card %s", id)
		}
		if !exists {
			return nil, errs.Missing("", "rate card %s not found", id)
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
			return nil, wrap(err, "read rate cards in effect")
		}
	}
	return out, nil
}
