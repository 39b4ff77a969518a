package notificationpg

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"google.golang.org/protobuf/proto"

	"github.com/waybill/waybill/kit/ids"
	"github.com/waybill/waybill/kit/outbox"
	"github.com/waybill/waybill/kit/page"
	"github.com/waybill/waybill/kit/pgxutil"
	"github.com/waybill/waybill/kit/txn"
	"github.com/waybill/waybill/services/notification/notification"
)

// The event types of the notification service's log (see events.proto).
const (
	EventSent   = "notification.notification.sent"
	EventFailed = "notification.notification.failed"
)

// EventTypes lists every event type the notification service emits.
var EventTypes = []string{EventSent, EventFailed}

// Options configure a Store.
type Options struct {
	// MessageEvent builds the payload of a message's events (notificationgrpc.MessageEvent).
	MessageEvent func(notification.Message) proto.Message
	// Notify wakes the outbox's sequencer after a commit that emitted events.
	Notify func()
}

// Store is the notification storage on a pool whose search_path is its schema.
type Store struct {
	pool *pgxpool.Pool
	tx   *txn.Runner
	opts Options
}

// New returns the storage on pool.
func New(pool *pgxpool.Pool, opts Options) *Store {
	return &Store{pool: pool, tx: txn.New(pool, txn.Options{Notify: opts.Notify}), opts: opts}
}

// In returns the queue of a consumer's transaction.
func (s *Store) In(tx *txn.Tx) notification.Queue { return queue{tx} }

type queue struct{ tx *txn.Tx }

const contactSQL = `SELECT email, email_verified, phone, phone_verified, locale, name, preferences, version, deleted
FROM contacts WHERE customer_id = $1`

// Contact implements notification.Queue.
func (q queue) Contact(ctx context.Context, customerID string) (*notification.Contact, error) {
	c := notification.Contact{CustomerID: customerID}
	var prefs []byte
	err := q.tx.QueryRow(ctx, contactSQL, customerID).Scan(&c.Email, &c.EmailVerified, &c.Phone, &c.PhoneVerified,
		&c.Locale, &c.Name, &prefs, &c.Version, &c.Deleted)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read contact %s: %w", customerID, err)
	}
	if err := json.Unmarshal(prefs, &c.Preferences); err != nil {
		return nil, fmt.Errorf("read contact %s preferences: %w", customerID, err)
	}
	return &c, nil
}

const applyContactSQL = `
INSERT INTO contacts (customer_id, email, email_verified, phone, phone_verified, locale, name, preferences, version, deleted)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)
ON CONFLICT (customer_id) DO UPDATE SET
    email = EXCLUDED.email, email_verified = EXCLUDED.email_verified, phone = EXCLUDED.phone,
    phone_verified = EXCLUDED.phone_verified, locale = EXCLUDED.locale, name = EXCLUDED.name,
    preferences = EXCLUDED.preferences, version = EXCLUDED.version, deleted = contacts.deleted OR EXCLUDED.deleted
WHERE EXCLUDED.version > contacts.version`

// ApplyContact implements notification.Queue.
func (q queue) ApplyContact(ctx context.Context, c notification.Contact) error {
	prefs, err := json.Marshal(c.Preferences)
	if err != nil {
		return err
	}
	if c.Deleted {
		c = notification.Contact{CustomerID: c.CustomerID, Version: c.Version, Deleted: true}
		prefs = []byte("{}")
	}
	if _, err := q.tx.Exec(ctx, applyContactSQL, c.CustomerID, c.Email, c.EmailVerified, c.Phone, c.PhoneVerified,
		c.Locale, c.Name, prefs, c.Version, c.Deleted); err != nil {
		return fmt.Errorf("apply contact %s: %w", c.CustomerID, err)
	}
	if c.Deleted {
		// Nothing more goes to an erased account, not even what was queued before. A message
		// a worker is sending right now loses its claim too, so the worker's outcome (sent,
		// or failed and due again) finds no claim to record it under: an attempt already on
		// the wire may still arrive, but none follows.
		if _, err := q.tx.Exec(ctx, `UPDATE messages SET status = 'skipped', last_error = 'account deleted', claim = NULL, lease_until = NULL
			WHERE customer_id = $1 AND status IN ('pending', 'parked', 'sending')`, c.CustomerID); err != nil {
			return fmt.Errorf("skip messages of deleted account %s: %w", c.CustomerID, err)
		}
	}
	return nil
}

const enqueueSQL = `
INSERT INTO messages (id, event_id, recipient, channel, event_type, topic, customer_id, address, locale, subject,
    body_text, body_html, status, next_attempt_at, expires_at)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, 'pending', COALESCE($13, now()), $14)
ON CONFLICT ON CONSTRAINT messages_once DO NOTHING`

// Enqueue implements notification.Queue.
func (q queue) Enqueue(ctx context.Context, msgs []notification.Message) error {
	b := &pgx.Batch{}
	for _, m := range msgs {
		b.Queue(enqueueSQL, m.ID, m.EventID, m.Recipient, string(m.Channel), m.EventType, m.Topic, m.CustomerID,
			m.Address, m.Locale, m.Subject, m.Text, m.HTML, nullTime(m.NextAt), nullTime(m.ExpiresAt))
	}
	if err := q.tx.SendBatch(ctx, b).Close(); err != nil {
		return fmt.Errorf("enqueue messages: %w", err)
	}
	return nil
}

// Settle implements notification.Queue.
func (q queue) Settle(ctx context.Context, topic string) error {
	if _, err := q.tx.Exec(ctx, `UPDATE messages SET status = 'skipped', last_error = 'no longer applies'
		WHERE topic = $1 AND status = 'pending' AND event_type = 'booking.reservation.expiring'`, topic); err != nil {
		return fmt.Errorf("settle reminders of %s: %w", topic, err)
	}
	return nil
}

func nullTime(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	return &t
}

const messageColumns = `id::text, event_id, recipient, channel, event_type, topic, customer_id, address, locale, subject,
    body_text, body_html, status, attempts, last_error, created_at, next_attempt_at, sent_at, expires_at, coalesce(claim::text, '')`

func scanMessage(r pgx.CollectableRow) (notification.Message, error) {
	var m notification.Message
	var ch, st string
	var sent, expires *time.Time
	err := r.Scan(&m.ID, &m.EventID, &m.Recipient, &ch, &m.EventType, &m.Topic, &m.CustomerID, &m.Address, &m.Locale,
		&m.Subject, &m.Text, &m.HTML, &st, &m.Attempts, &m.LastError, &m.CreatedAt, &m.NextAt, &sent, &expires, &m.Claim)
	m.Channel, m.Status = notification.Channel(ch), notification.Status(st)
	if sent != nil {
		m.SentAt = *sent
	}
	if expires != nil {
		m.ExpiresAt = *expires
	}
	return m, err
}

const skipExpiredSQL = `
UPDATE messages SET status = 'skipped', last_error = 'expired before it could be sent', claim = NULL, lease_until = NULL
WHERE id IN (SELECT id FROM messages
             WHERE ((status = 'pending' AND next_attempt_at <= $1) OR (status = 'sending' AND lease_until < $1))
               AND expires_at < $1
             LIMIT 100 FOR UPDATE SKIP LOCKED)`

const claimSQL = `
WITH due AS (
    SELECT id FROM messages WHERE status = 'pending' AND next_attempt_at <= $1
    ORDER BY next_attempt_at LIMIT $2 FOR UPDATE SKIP LOCKED),
lapsed AS (
    SELECT id FROM messages WHERE status = 'sending' AND lease_until < $1
    ORDER BY lease_until LIMIT $2 FOR UPDATE SKIP LOCKED)
UPDATE messages SET status = 'sending', attempts = attempts + 1, claim = $3, lease_until = $1::timestamptz + $4::interval
WHERE id IN (SELECT id FROM due UNION ALL SELECT id FROM lapsed)
RETURNING ` + messageColumns

// Claim implements notification.Store.
func (s *Store) Claim(ctx context.Context, now time.Time, limit int, lease time.Duration) ([]notification.Message, error) {
	if _, err := s.pool.Exec(ctx, skipExpiredSQL, now); err != nil {
		return nil, pgxutil.MapError(fmt.Errorf("skip expired messages: %w", err))
	}
	rows, err := s.pool.Query(ctx, claimSQL, now, limit, ids.New(), lease)
	if err != nil {
		return nil, pgxutil.MapError(fmt.Errorf("claim messages: %w", err))
	}
	msgs, err := pgx.CollectRows(rows, scanMessage)
	if err != nil {
		return nil, pgxutil.MapError(fmt.Errorf("claim messages: %w", err))
	}
	return msgs, nil
}

// Sent implements notification.Store: the message becomes SENT and
// notification.notification.sent is emitted, if the claim still holds.
func (s *Store) Sent(ctx context.Context, m notification.Message, now time.Time) error {
	return s.finish(ctx, m, `UPDATE messages SET status = 'sent', sent_at = $3, claim = NULL, lease_until = NULL, last_error = ''
		WHERE id = $1 AND claim = $2 RETURNING `+messageColumns, EventSent, now)
}

// Failed implements notification.Store.
func (s *Store) Failed(ctx context.Context, m notification.Message, cause string, next time.Time, park bool) error {
	if park {
		return s.finish(ctx, m, `UPDATE messages SET status = 'parked', last_error = $3, claim = NULL, lease_until = NULL
			WHERE id = $1 AND claim = $2 RETURNING `+messageColumns, EventFailed, cause)
	}
	_, err := s.pool.Exec(ctx, `UPDATE messages SET status = 'pending', last_error = $3, next_attempt_at = $4, claim = NULL,
		lease_until = NULL WHERE id = $1 AND claim = $2`, m.ID, m.Claim, cause, next)
	return pgxutil.MapError(err)
}

// finish runs an update of a claimed message and emits event with the result.
func (s *Store) finish(ctx context.Context, m notification.Message, sql, event string, arg any) error {
	err := s.tx.Run(ctx, func(tx *txn.Tx) error {
		rows, err := tx.Query(ctx, sql, m.ID, m.Claim, arg)
		if err != nil {
			return err
		}
		got, err := pgx.CollectRows(rows, scanMessage)
		if err != nil {
			return err
		}
		for _, x := range got {
			tx.Emit(outbox.Event{Type: event, Key: x.ID, Payload: s.opts.MessageEvent(x)})
		}
		return nil
	})
	return pgxutil.MapError(err)
}

// listCursor is a page token's position: the last message's creation time and id.
type listCursor struct {
	T  time.Time `json:"t"`
	ID string    `json:"id"`
}

// List implements notification.Store.
func (s *Store) List(ctx context.Context, f notification.Filter, token string, limit int) ([]notification.Message, string, error) {
	filter := page.Fingerprint(f.CustomerID, string(f.Status))
	var cur listCursor
	has, err := page.Decode(token, filter, &cur)
	if err != nil {
		return nil, "", err
	}
	after := any(nil)
	if has {
		after = cur.T
	}
	customerFilter := `($1 = '' OR customer_id = $1)`
	rows, err := s.pool.Query(ctx, `SELECT `+messageColumns+` FROM messages
		WHERE `+customerFilter+` AND ($2 = '' OR status = $2)
		  AND ($3::timestamptz IS NULL OR (created_at, id::text) < ($3, $4))
		ORDER BY created_at DESC, id::text DESC LIMIT $5`, f.CustomerID, string(f.Status), after, cur.ID, limit+1)
	if err != nil {
		return nil, "", pgxutil.MapError(fmt.Errorf("list messages: %w", err))
	}
	msgs, err := pgx.CollectRows(rows, scanMessage)
	if err != nil {
		return nil, "", pgxutil.MapError(fmt.Errorf("list messages: %w", err))
	}
	next := ""
	if len(msgs) > limit {
		msgs = msgs[:limit]
		last := msgs[len(msgs)-1]
		next = page.Encode(listCursor{T: last.CreatedAt, ID: last.ID}, filter)
	}
	return msgs, next, nil
}

// Get implements notification.Store.
func (s *Store) Get(ctx context.Context, id string) (notification.Message, error) {
	rows, err := s.pool.Query(ctx, `SELECT `+messageColumns+` FROM messages WHERE id = $1`, id)
	if err != nil {
		return notification.Message{}, pgxutil.MapError(fmt.Errorf("get message: %w", err))
	}
	m, err := pgx.CollectExactlyOneRow(rows, scanMessage)
	if err != nil {
		return m, pgxutil.MapNotFound(err, "notification %s not found", id)
	}
	return m, nil
}

// Retry implements notification.Store.
func (s *Store) Retry(ctx context.Context, id string, now time.Time) (notification.Message, error) {
	return s.repair(ctx, id, notification.Pending, `UPDATE messages SET status = 'pending', attempts = 0, next_attempt_at = $2
		WHERE id = $1 AND status = 'parked' RETURNING `+messageColumns, id, now)
}

// Discard implements notification.Store.
func (s *Store) Discard(ctx context.Context, id string) (notification.Message, error) {
	return s.repair(ctx, id, notification.Discarded, `UPDATE messages SET status = 'discarded' WHERE id = $1 AND status = 'parked'
		RETURNING `+messageColumns, id)
}

// repair changes a parked message; a message already in the target state is answered
// as it is, any other fails with NotParked.
func (s *Store) repair(ctx context.Context, id string, target notification.Status, sql string, args ...any) (notification.Message, error) {
	rows, err := s.pool.Query(ctx, sql, args...)
	if err != nil {
		return notification.Message{}, pgxutil.MapError(fmt.Errorf("repair message: %w", err))
	}
	got, err := pgx.CollectRows(rows, scanMessage)
	if err != nil {
		return notification.Message{}, pgxutil.MapError(fmt.Errorf("repair message: %w", err))
	}
	if len(got) == 1 {
		return got[0], nil
	}
	m, err := s.Get(ctx, id)
	if err != nil {
		return m, err
	}
	if m.Status == target && target == notification.Discarded {
		return m, nil
	}
	if target == notification.Pending && (m.Status == notification.Pending || m.Status == notification.Sending) {
		return m, nil
	}
	return m, notification.NotParked(id, m.Status)
}
