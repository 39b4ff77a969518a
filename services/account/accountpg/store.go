package accountpg

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"google.golang.org/protobuf/proto"

	"github.com/waybill/waybill/kit/errs"
	"github.com/waybill/waybill/kit/idempotency"
	"github.com/waybill/waybill/kit/idempotency/idempotencypg"
	"github.com/waybill/waybill/kit/outbox"
	"github.com/waybill/waybill/kit/pgxutil"
	"github.com/waybill/waybill/kit/txn"
	"github.com/waybill/waybill/services/account/account"
)

// Options configures a Store.
type Options struct {
	// Encode turns a domain event into its payload message (the transport's converter).
	// Required.
	Encode func(account.Event) (proto.Message, error)
	// Notify, when set, is called after a transaction that emitted events commits, to
	// wake the outbox sequencer at once (outbox.Log.Notify).
	Notify func()
	// Keys claims idempotency keys; nil means idempotencypg.New with its defaults.
	Keys *idempotencypg.Keys
}

// Store is the account service's storage on PostgreSQL; it implements account.Store.
type Store struct {
	pool *pgxpool.Pool
	tx   *txn.Runner
	keys *idempotencypg.Keys
	opts Options
}

var _ account.Store = (*Store)(nil)

// New returns a store on pool, whose search_path must be the account schema.
func New(pool *pgxpool.Pool, opts Options) *Store {
	keys := opts.Keys
	if keys == nil {
		keys = idempotencypg.New(idempotencypg.Options{})
	}
	return &Store{pool: pool, tx: txn.New(pool, txn.Options{Notify: opts.Notify}), keys: keys, opts: opts}
}

// constraints maps the account schema's named constraints to the domain's errors.
var constraints = pgxutil.Constraints{
	"account_pkey": account.ErrAccountExists,
}

// emit queues evs on tx, their payloads encoded by the transport.
func (s *Store) emit(tx *txn.Tx, evs []account.Event) error {
	for _, ev := range evs {
		payload, err := s.opts.Encode(ev)
		if err != nil {
			return fmt.Errorf("encode event %s: %w", ev.Type, err)
		}
		tx.Emit(outbox.Event{Type: ev.Type, Key: ev.Account.ID, Payload: payload})
	}
	return nil
}

// wrap returns err with what failed, mapped to the domain's errors.
func wrap(err error, format string, args ...any) error {
	return pgxutil.MapError(fmt.Errorf(format+": %w", append(args, err)...))
}

// encodeResult is an outcome as an idempotency key stores it: the domain's own JSON.
func encodeResult(o account.Outcome) ([]byte, error) {
	b, err := json.Marshal(o)
	if err != nil {
		return nil, fmt.Errorf("encode outcome of account %s: %w", o.Account.ID, err)
	}
	return b, nil
}

// decodeResult reads what encodeResult stored for request id.
func decodeResult(b []byte, requestID string) (account.Outcome, error) {
	var o account.Outcome
	if err := json.Unmarshal(b, &o); err != nil {
		return account.Outcome{}, fmt.Errorf("decode the outcome stored for request id %q: %w", requestID, err)
	}
	return o, nil
}

// accountColumns are the columns scanAccount reads.
const accountColumns = `id, display_name, locale, time_zone, email, email_verify_time, phone, phone_verify_time,
	preferences, status, sub_status, suspension, create_time, update_time, delete_time, version`

// scanAccount reads accountColumns.
func scanAccount(row pgx.Row) (account.Account, error) {
	var (
		a                    account.Account
		emailTime, phoneTime *time.Time
		deleteTime           *time.Time
		prefs, suspension    []byte
	)
	err := row.Scan(&a.ID, &a.Profile.DisplayName, &a.Profile.Locale, &a.Profile.TimeZone,
		&a.Email.Address, &emailTime, &a.Phone.Address, &phoneTime,
		&prefs, &a.Status, &a.SubStatus, &suspension, &a.CreateTime, &a.UpdateTime, &deleteTime, &a.Version)
	if err != nil {
		return account.Account{}, err
	}
	if emailTime != nil {
		a.Email.VerifyTime = emailTime.UTC()
	}
	if phoneTime != nil {
		a.Phone.VerifyTime = phoneTime.UTC()
	}
	if deleteTime != nil {
		a.DeleteTime = deleteTime.UTC()
	}
	a.CreateTime, a.UpdateTime = a.CreateTime.UTC(), a.UpdateTime.UTC()
	if err := json.Unmarshal(prefs, &a.Preferences); err != nil {
		return account.Account{}, fmt.Errorf("decode preferences of account %s: %w", a.ID, err)
	}
	if suspension != nil {
		a.Suspension = &account.Suspension{}
		if err := json.Unmarshal(suspension, a.Suspension); err != nil {
			return account.Account{}, fmt.Errorf("decode suspension of account %s: %w", a.ID, err)
		}
	}
	return a, nil
}

// args returns a's values in the order of accountColumns.
func args(a account.Account) ([]any, error) {
	prefs, err := json.Marshal(a.Preferences)
	if err != nil {
		return nil, fmt.Errorf("encode preferences: %w", err)
	}
	var suspension []byte
	if a.Suspension != nil {
		if suspension, err = json.Marshal(a.Suspension); err != nil {
			return nil, fmt.Errorf("encode suspension: %w", err)
		}
	}
	return []any{a.ID, a.Profile.DisplayName, a.Profile.Locale, a.Profile.TimeZone,
		a.Email.Address, nullTime(a.Email.VerifyTime), a.Phone.Address, nullTime(a.Phone.VerifyTime),
		prefs, a.Status, a.SubStatus, suspension, a.CreateTime, a.UpdateTime, nullTime(a.DeleteTime), a.Version}, nil
}

// nullTime is t, or NULL for the zero time.
func nullTime(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	return &t
}

const (
	// lockIDSQL serializes the creates of one account id until the end of the
	// transaction, so a retry racing its first call waits for it and replays.
	lockIDSQL        = `SELECT pg_advisory_xact_lock(hashtext('account.account_id'), hashtext($1))`
	insertAccountSQL = `INSERT INTO account (` + accountColumns + `) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16)`
)

// CreateAccount implements account.Store. The id's lock, then the idempotency claim
// (which stores the new account as the key's result in the same statement), go out in
// the batch that begins the transaction; the insert and the events follow unless the
// claim replays.
func (s *Store) CreateAccount(ctx context.Context, a account.Account, key idempotency.Key, events []account.Event) (account.Outcome, error) {
	result, err := encodeResult(account.Outcome{Account: a})
	if err != nil {
		return account.Outcome{}, err
	}
	values, err := args(a)
	if err != nil {
		return account.Outcome{}, err
	}
	var out account.Outcome
	err = s.tx.Run(ctx, func(tx *txn.Tx) error {
		b := &pgx.Batch{}
		b.Queue(lockIDSQL, a.ID)
		claim := s.keys.QueueWith(b, key, result)
		c, err := claim.ReadAfter(tx.SendBatch(ctx, b), func(br pgx.BatchResults) error {
			_, err := br.Exec()
			return err
		})
		if err != nil {
			return err
		}
		if c.Replayed {
			out, err = decodeResult(c.Result, key.RequestID)
			return err
		}
		if _, err := tx.Exec(ctx, insertAccountSQL, values...); err != nil {
			return constraints.Map(fmt.Errorf("insert account: %w", err))
		}
		out = account.Outcome{Account: a}
		return s.emit(tx, events)
	})
	if err != nil {
		return account.Outcome{}, err
	}
	return out, nil
}

const accountSQL = `SELECT ` + accountColumns + ` FROM account WHERE id = $1`

// Account implements account.Store.
func (s *Store) Account(ctx context.Context, id string) (account.Account, error) {
	a, err := scanAccount(s.pool.QueryRow(ctx, accountSQL, id))
	if err != nil {
		return account.Account{}, pgxutil.MapNotFound(err, "account %q not found", id)
	}
	return a, nil
}

const listAccountsSQL = `SELECT ` + accountColumns + ` FROM account
WHERE (@status::smallint = 0 OR status = @status)
  AND (@id::text = '' OR id = @id)
  AND (@after_id::text IS NULL OR (create_time, id) > (@after_time, @after_id))
ORDER BY create_time, id
LIMIT @limit`

// ListAccounts implements account.Store.
func (s *Store) ListAccounts(ctx context.Context, f account.Filter, after *account.Cursor, limit int) ([]account.Account, error) {
	named := pgx.NamedArgs{"status": int16(f.Status), "id": f.ID, "after_time": nil, "after_id": nil, "limit": limit}
	if after != nil {
		named["after_time"], named["after_id"] = after.CreateTime, after.ID
	}
	rows, err := s.pool.Query(ctx, listAccountsSQL, named)
	if err != nil {
		return nil, wrap(err, "list accounts")
	}
	as, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (account.Account, error) { return scanAccount(r) })
	if err != nil {
		return nil, wrap(err, "list accounts")
	}
	return as, nil
}

// codeColumns are the columns scanCode reads.
const codeColumns = `account_id, kind, coalesce(code_id::text, ''), destination, code_hash, issue_time, expire_time,
	attempts, used_time, window_start, window_count`

// scanCode reads codeColumns.
func scanCode(row pgx.Row) (account.Code, error) {
	var (
		c                   account.Code
		issue, expire, used *time.Time
	)
	err := row.Scan(&c.AccountID, &c.Kind, &c.ID, &c.Destination, &c.Hash, &issue, &expire, &c.Attempts, &used,
		&c.WindowStart, &c.WindowCount)
	if err != nil {
		return account.Code{}, err
	}
	for _, t := range []struct {
		from *time.Time
		to   *time.Time
	}{{issue, &c.IssueTime}, {expire, &c.ExpireTime}, {used, &c.UsedTime}} {
		if t.from != nil {
			*t.to = t.from.UTC()
		}
	}
	c.WindowStart = c.WindowStart.UTC()
	return c, nil
}

const (
	// lockAccountSQL reads and locks an account.
	lockAccountSQL = `SELECT ` + accountColumns + ` FROM account WHERE id = $1 FOR UPDATE`
	// codesSQL reads the codes of the locked account.
	codesSQL         = `SELECT ` + codeColumns + ` FROM verification_code WHERE account_id = $1`
	updateAccountSQL = `UPDATE account SET display_name = $2, locale = $3, time_zone = $4, email = $5, email_verify_time = $6,
	phone = $7, phone_verify_time = $8, preferences = $9, status = $10, sub_status = $11, suspension = $12,
	create_time = $13, update_time = $14, delete_time = $15, version = $16
WHERE id = $1`
	eraseCodesSQL = `DELETE FROM verification_code WHERE account_id = $1`
	upsertCodeSQL = `INSERT INTO verification_code (account_id, kind, code_id, destination, code_hash, issue_time, expire_time,
	attempts, used_time, window_start, window_count)
VALUES ($1, $2, nullif($3, '')::uuid, $4, $5, $6, $7, $8, $9, $10, $11)
ON CONFLICT (account_id, kind) DO UPDATE SET code_id = excluded.code_id, destination = excluded.destination,
	code_hash = excluded.code_hash, issue_time = excluded.issue_time, expire_time = excluded.expire_time,
	attempts = excluded.attempts, used_time = excluded.used_time, window_start = excluded.window_start,
	window_count = excluded.window_count`
)

// UpdateAccount implements account.Store. The account's row is locked first, so changes
// of one account are numbered, and their events sequenced, in commit order; its codes
// and the idempotency claim follow in the same batch, so a retry that arrives while the
// first call runs waits for the lock and then replays the outcome the key stores. The
// writes go out in one batch, the key's completion and the events with the commit.
func (s *Store) UpdateAccount(ctx context.Context, id string, key idempotency.Key, next account.ChangeFunc) (account.Outcome, error) {
	var out account.Outcome
	err := s.tx.Run(ctx, func(tx *txn.Tx) error {
		b := &pgx.Batch{}
		b.Queue(lockAccountSQL, id)
		b.Queue(codesSQL, id)
		claim := s.keys.Queue(b, key)
		var (
			cur   account.Account
			codes = account.Codes{}
		)
		c, err := claim.ReadAfter(tx.SendBatch(ctx, b), func(br pgx.BatchResults) error {
			var err error
			if cur, err = scanAccount(br.QueryRow()); errors.Is(err, pgx.ErrNoRows) {
				return errs.Missing("", "account %q not found", id)
			} else if err != nil {
				return fmt.Errorf("lock account %s: %w", id, err)
			}
			rows, err := br.Query()
			if err != nil {
				return fmt.Errorf("read codes of account %s: %w", id, err)
			}
			list, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (account.Code, error) { return scanCode(r) })
			if err != nil {
				return fmt.Errorf("read codes of account %s: %w", id, err)
			}
			for _, code := range list {
				codes[code.Kind] = code
			}
			return nil
		})
		if err != nil {
			return err
		}
		if c.Replayed {
			out, err = decodeResult(c.Result, key.RequestID)
			return err
		}
		ch, err := next(cur, codes)
		if err != nil {
			return err
		}
		out = account.Outcome{Account: ch.Account, Sent: ch.Sent}
		result, err := encodeResult(out)
		if err != nil {
			return err
		}
		b = &pgx.Batch{}
		if ch.Write {
			values, err := args(ch.Account)
			if err != nil {
				return err
			}
			b.Queue(updateAccountSQL, values...)
		}
		if ch.EraseCodes {
			b.Queue(eraseCodesSQL, id)
		}
		for _, code := range ch.Codes {
			b.Queue(upsertCodeSQL, id, code.Kind, code.ID, code.Destination, code.Hash, nullTime(code.IssueTime),
				nullTime(code.ExpireTime), code.Attempts, nullTime(code.UsedTime), code.WindowStart, code.WindowCount)
		}
		if b.Len() == 0 {
			// Nothing changes: only the key's completion, with the commit.
			tx.BeforeCommit(func(b *pgx.Batch) error { return c.QueueComplete(b, result) })
			return s.emit(tx, ch.Events)
		}
		if err := c.QueueComplete(b, result); err != nil {
			return err
		}
		if err := tx.SendBatch(ctx, b).Close(); err != nil {
			return constraints.Map(fmt.Errorf("update account %s: %w", id, err))
		}
		return s.emit(tx, ch.Events)
	})
	if err != nil {
		return account.Outcome{}, err
	}
	return out, nil
}

// Replay implements account.Store.
func (s *Store) Replay(ctx context.Context, key idempotency.Key) (account.Outcome, bool, error) {
	b, found, err := s.keys.Lookup(ctx, s.pool, key)
	if err != nil || !found {
		return account.Outcome{}, false, err
	}
	o, err := decodeResult(b, key.RequestID)
	return o, err == nil, err
}

// countAttemptSQL counts an attempt at a contact's current code, and returns the code.
const countAttemptSQL = `UPDATE verification_code SET attempts = attempts + 1
WHERE account_id = $1 AND kind = $2 AND code_hash IS NOT NULL
RETURNING ` + codeColumns

// CountAttempt implements account.Store: one statement, committed on its own, so the
// attempt counts whatever the check then finds.
func (s *Store) CountAttempt(ctx context.Context, id string, k account.ContactKind) (account.Code, error) {
	c, err := scanCode(s.pool.QueryRow(ctx, countAttemptSQL, id, k))
	if err != nil {
		return account.Code{}, pgxutil.MapNotFound(err, "account %q has no current code for its %s", id, k)
	}
	return c, nil
}
