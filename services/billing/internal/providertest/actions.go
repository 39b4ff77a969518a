package providertest

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	reservationv1 "github.com/waybill/waybill/gen/waybill/reservation/v1"
	"github.com/waybill/waybill/kit/auth"
	"github.com/waybill/waybill/kit/outbox"
	"github.com/waybill/waybill/kit/txn"
)

// actionCounts counts the confirm and cancel calls answered and the reservations they
// changed (not repeated answers).
type actionCounts struct {
	confirmCalls, cancelCalls, confirmed, cancelled int64
}

// ActionCounts returns how many ConfirmReservations and CancelReservations calls the
// provider answered, and how many reservations they changed.
func (p *Provider) ActionCounts() (confirmCalls, cancelCalls, confirmed, cancelled int64) {
	p.countMu.Lock()
	defer p.countMu.Unlock()
	c := p.counts
	return c.confirmCalls, c.cancelCalls, c.confirmed, c.cancelled
}

// SetActionsDown makes ConfirmReservations and CancelReservations fail with UNAVAILABLE
// (before doing anything) while down is true.
func (p *Provider) SetActionsDown(down bool) { p.actionsDown.Store(down) }

// ConfirmReservations implements reservationv1.ReservationProviderServiceServer: PENDING
// reservations become CONFIRMED; confirmed (or later) ones are OK unchanged; cancelled or
// expired ones fail with a reason. Idempotent by request_id.
func (p *Provider) ConfirmReservations(ctx context.Context, req *reservationv1.ConfirmReservationsRequest) (*reservationv1.ConfirmReservationsResponse, error) {
	if err := p.checkAction(ctx, req.GetProvider(), req.GetIds(), req.GetRequestId()); err != nil {
		return nil, err
	}
	resp := &reservationv1.ConfirmReservationsResponse{}
	results, err := p.act(ctx, "confirm", req.GetRequestId(), req.GetIds(), resp, func(r *Reservation) (bool, string) {
		switch r.Status {
		case reservationv1.MainStatus_MAIN_STATUS_PENDING:
			r.Status = reservationv1.MainStatus_MAIN_STATUS_CONFIRMED
			return true, ""
		case reservationv1.MainStatus_MAIN_STATUS_EXPIRED:
			return false, "HOLD_EXPIRED"
		case reservationv1.MainStatus_MAIN_STATUS_CANCELLED:
			return false, "RESERVATION_CANCELLED"
		}
		return false, ""
	})
	if err != nil {
		return nil, err
	}
	resp.Results = results
	return resp, nil
}

// CancelReservations implements reservationv1.ReservationProviderServiceServer: PENDING or
// CONFIRMED reservations become CANCELLED, recording the reason and whether fees were
// waived; cancelled or expired ones are OK unchanged; used ones fail. Idempotent by
// request_id.
func (p *Provider) CancelReservations(ctx context.Context, req *reservationv1.CancelReservationsRequest) (*reservationv1.CancelReservationsResponse, error) {
	if err := p.checkAction(ctx, req.GetProvider(), req.GetIds(), req.GetRequestId()); err != nil {
		return nil, err
	}
	resp := &reservationv1.CancelReservationsResponse{}
	results, err := p.act(ctx, "cancel", req.GetRequestId(), req.GetIds(), resp, func(r *Reservation) (bool, string) {
		switch r.Status {
		case reservationv1.MainStatus_MAIN_STATUS_PENDING, reservationv1.MainStatus_MAIN_STATUS_CONFIRMED:
			r.Status = reservationv1.MainStatus_MAIN_STATUS_CANCELLED
			r.CancelReason, r.FeesWaived = req.GetReason(), req.GetWaiveFees()
			return true, ""
		case reservationv1.MainStatus_MAIN_STATUS_IN_PROGRESS, reservationv1.MainStatus_MAIN_STATUS_COMPLETED:
			return false, "RESERVATION_USED"
		}
		return false, ""
	})
	if err != nil {
		return nil, err
	}
	resp.Results = results
	return resp, nil
}

// checkAction validates a confirm or cancel and its caller.
func (p *Provider) checkAction(ctx context.Context, provider string, ids []string, requestID string) error {
	id, err := auth.Require(ctx)
	if err != nil {
		return err
	}
	if !id.Privileged() {
		return status.Error(codes.PermissionDenied, "only services and operators may confirm or cancel")
	}
	if p.actionsDown.Load() {
		return status.Error(codes.Unavailable, "provider actions are down")
	}
	if n := len(ids); n == 0 || n > 500 {
		return status.Errorf(codes.InvalidArgument, "ids: want 1 to 500, got %d", n)
	}
	for _, id := range ids {
		if id == "" {
			return status.Error(codes.InvalidArgument, "ids: empty id")
		}
	}
	if requestID == "" {
		return status.Error(codes.InvalidArgument, "request_id: required")
	}
	if provider != "" && provider != p.opts.Name {
		return status.Errorf(codes.InvalidArgument, "provider: this is %s", p.opts.Name)
	}
	return nil
}

// act applies change to each id in one transaction, under the idempotency key
// (method, requestID): a repeated key returns the stored answer. change reports whether
// it changed the reservation, or a failure reason.
func (p *Provider) act(ctx context.Context, method, requestID string, ids []string, resp proto.Message,
	change func(r *Reservation) (bool, string)) ([]*reservationv1.ReservationActionResult, error) {
	var results []*reservationv1.ReservationActionResult
	changed := 0
	err := p.txn.Run(ctx, func(tx *txn.Tx) error {
		results, changed = nil, 0
		tag, err := tx.Exec(ctx, `INSERT INTO action_requests (method, request_id, response) VALUES ($1, $2, '') ON CONFLICT DO NOTHING`, method, requestID)
		if err != nil {
			return err
		}
		if tag.RowsAffected() == 0 {
			var stored []byte
			if err := tx.QueryRow(ctx, `SELECT response FROM action_requests WHERE method = $1 AND request_id = $2`, method, requestID).Scan(&stored); err != nil {
				return err
			}
			if err := proto.Unmarshal(stored, resp); err != nil {
				return err
			}
			results = resultsOf(resp)
			return nil
		}
		for _, id := range ids {
			rows, err := tx.Query(ctx, selectSQL+` WHERE id = $1 FOR UPDATE`, id)
			if err != nil {
				return err
			}
			r, err := pgx.CollectExactlyOneRow(rows, scanReservation)
			if errors.Is(err, pgx.ErrNoRows) {
				results = append(results, &reservationv1.ReservationActionResult{Id: id, Outcome: reservationv1.ReservationActionResult_OUTCOME_NOT_FOUND})
				continue
			}
			if err != nil {
				return err
			}
			did, reason := change(&r)
			if reason != "" {
				results = append(results, &reservationv1.ReservationActionResult{Id: id, Outcome: reservationv1.ReservationActionResult_OUTCOME_FAILED_PRECONDITION,
					MainStatus: r.Status, Reason: reason, Version: r.Version})
				continue
			}
			if did {
				changed++
				r.Version++
				r.UpdateTime = nowMicros()
				if _, err := tx.Exec(ctx, `UPDATE reservations SET main_status = $2, update_time = $3, version = $4, cancel_reason = $5, fees_waived = $6 WHERE id = $1`,
					r.ID, int32(r.Status), r.UpdateTime, r.Version, r.CancelReason, r.FeesWaived); err != nil {
					return err
				}
				tx.Emit(outbox.Event{Type: EventTypes[1], Key: r.ID, Payload: p.payload(r)})
			}
			results = append(results, &reservationv1.ReservationActionResult{Id: id, Outcome: reservationv1.ReservationActionResult_OUTCOME_OK,
				MainStatus: r.Status, Version: r.Version})
		}
		setResults(resp, results)
		stored, err := proto.Marshal(resp)
		if err != nil {
			return err
		}
		_, err = tx.Exec(ctx, `UPDATE action_requests SET response = $3 WHERE method = $1 AND request_id = $2`, method, requestID, stored)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("%s reservations: %w", method, err)
	}
	p.countMu.Lock()
	if method == "confirm" {
		p.counts.confirmCalls++
		p.counts.confirmed += int64(changed)
	} else {
		p.counts.cancelCalls++
		p.counts.cancelled += int64(changed)
	}
	p.countMu.Unlock()
	return results, nil
}

func resultsOf(m proto.Message) []*reservationv1.ReservationActionResult {
	switch r := m.(type) {
	case *reservationv1.ConfirmReservationsResponse:
		return r.GetResults()
	case *reservationv1.CancelReservationsResponse:
		return r.GetResults()
	}
	return nil
}

func setResults(m proto.Message, rs []*reservationv1.ReservationActionResult) {
	switch r := m.(type) {
	case *reservationv1.ConfirmReservationsResponse:
		r.Results = rs
	case *reservationv1.CancelReservationsResponse:
		r.Results = rs
	}
}
