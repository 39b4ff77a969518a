package pgxutil_test

import (
	"context"
	"errors"
	"testing"

	"github.com/jackc/pgx/v5/pgconn"

	"github.com/waybill/waybill/kit/pgxutil"
)

func TestRetry(t *testing.T) {
	t.Parallel()
	conflict := &pgconn.PgError{Code: "40001"}
	other := errors.New("other")
	cancelled, cancel := context.WithCancel(t.Context())
	cancel()
	tests := []struct {
		name       string
		ctx        context.Context
		maxRetries int
		errs       []error // what fn returns on each run; nil after the last
		wantRuns   int
		wantErr    error
	}{
		{"success", t.Context(), 3, nil, 1, nil},
		{"conflicts then success", t.Context(), 3, []error{conflict, conflict}, 3, nil},
		{"conflicts beyond the limit", t.Context(), 1, []error{conflict, conflict}, 2, conflict},
		{"no retries", t.Context(), 0, []error{conflict}, 1, conflict},
		{"other error not retried", t.Context(), 3, []error{other}, 1, other},
		{"context ended", cancelled, 3, []error{conflict}, 1, conflict},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			runs := 0
			err := pgxutil.Retry(tt.ctx, tt.maxRetries, func() error {
				runs++
				if runs <= len(tt.errs) {
					return tt.errs[runs-1]
				}
				return nil
			})
			if err != tt.wantErr {
				t.Errorf("err %v, want %v", err, tt.wantErr)
			}
			if runs != tt.wantRuns {
				t.Errorf("fn ran %d times, want %d", runs, tt.wantRuns)
			}
		})
	}
}
