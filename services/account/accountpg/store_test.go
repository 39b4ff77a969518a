package accountpg_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgconn"

	"github.com/waybill/waybill/kit/errs"
	"github.com/waybill/waybill/kit/pgtest"
	"github.com/waybill/waybill/services/account/account"
	"github.com/waybill/waybill/services/account/accountpg"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

// TestDeletedAccountsHoldNoPersonalData: the table itself refuses a DELETED row that
// still has a profile or a contact, whatever the code above it does.
func TestDeletedAccountsHoldNoPersonalData(t *testing.T) {
	t.Parallel()
	pool := pgtest.NewDB(t, "account", accountpg.Migrations)
	_, err := pool.Exec(context.Background(), `INSERT INTO account (id, email, preferences, status, create_time, update_time, version)
		VALUES ('c1', 'ada@example.com', '{}', 3, now(), now(), 1)`)
	var pgErr *pgconn.PgError
	if !errors.As(err, &pgErr) || pgErr.ConstraintName != "account_erased" {
		t.Fatalf("insert of a deleted account with an email = %v, want the account_erased check to refuse it", err)
	}
}

// TestCountAttemptIsAtomic: concurrent attempts at one code each count once, and a
// contact without a current code counts nothing (NotFound).
func TestCountAttemptIsAtomic(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pool := pgtest.NewDB(t, "account", accountpg.Migrations)
	store := accountpg.New(pool, accountpg.Options{})
	if _, err := pool.Exec(ctx, `INSERT INTO account (id, email, preferences, status, create_time, update_time, version)
		VALUES ('c1', 'ada@example.com', '{}', 1, now(), now(), 1)`); err != nil {
		t.Fatal(err)
	}
	if _, err := store.CountAttempt(ctx, "c1", account.KindEmail); !errors.Is(err, errs.NotFound) {
		t.Fatalf("attempt without a code = %v, want NotFound", err)
	}
	now := time.Now()
	if _, err := pool.Exec(ctx, `INSERT INTO verification_code (account_id, kind, code_id, destination, code_hash, issue_time,
		expire_time, window_start, window_count) VALUES ('c1', 1, gen_random_uuid(), 'ada@example.com', '\x01', $1, $2, $1, 1)`,
		now, now.Add(time.Minute)); err != nil {
		t.Fatal(err)
	}
	const n = 16
	seen := make([]int, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			c, err := store.CountAttempt(ctx, "c1", account.KindEmail)
			if err != nil {
				t.Error(err)
				return
			}
			seen[i] = c.Attempts
		})
	}
	wg.Wait()
	got := map[int]bool{}
	for _, a := range seen {
		got[a] = true
	}
	if len(got) != n {
		t.Fatalf("attempt numbers %v: want each of 1..%d once", seen, n)
	}
	if _, err := store.CountAttempt(ctx, "c1", account.KindPhone); !errors.Is(err, errs.NotFound) {
		t.Fatalf("attempt at the phone = %v, want NotFound", err)
	}
}
