package providerclient

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/emptypb"

	eventsv1 "github.com/waybill/waybill/gen/waybill/events/v1"
	reservationv1 "github.com/waybill/waybill/gen/waybill/reservation/v1"
	typev1 "github.com/waybill/waybill/gen/waybill/type/v1"
	"github.com/waybill/waybill/kit/errs"
	"github.com/waybill/waybill/kit/grpcclient"
	"github.com/waybill/waybill/kit/grpcerr"
	"github.com/waybill/waybill/kit/money"
	"github.com/waybill/waybill/services/billing/billing"
)

// MaxBatch is the most ids one GetReservationDetails call may carry (the provider
// contract's maximum).
const MaxBatch = 500

// DefaultStaleAfter is how far behind its provider's stream a summary may be before it is
// reported STALE.
const DefaultStaleAfter = 15 * time.Second

// detailsMethod is the full name of GetReservationDetails, a read and so retried on
// UNAVAILABLE.
const detailsMethod = "/waybill.reservation.v1.ReservationProviderService/GetReservationDetails"

// Options tunes Providers. Zero fields take the defaults.
type Options struct {
	// BatchSize is the most ids per GetReservationDetails call, at most MaxBatch (the
	// default). Benchmarks set 1 to measure one call per item.
	BatchSize int
	// Breaker tunes each provider's circuit breaker.
	Breaker BreakerOptions
	// StaleAfter is how far behind its provider's event stream an item's summary may be
	// before it is STALE (DefaultStaleAfter).
	StaleAfter time.Duration
	// DialOptions are added to every provider connection (billing's credentials, test
	// interceptors).
	DialOptions []grpc.DialOption
	// Logger receives the feeds' and refreshers' logs; nil discards them.
	Logger *slog.Logger
	// Now is the clock of freshness (default time.Now); the circuit breakers run on the
	// wall clock.
	Now func() time.Time
}

// Providers is the set of configured providers; it implements billing.Providers.
type Providers struct {
	cfg    Config
	opts   Options
	byName map[string]*provider
}

var _ billing.Providers = (*Providers)(nil)

// provider is one configured provider.
type provider struct {
	name    string
	conn    *grpc.ClientConn
	details reservationv1.ReservationProviderServiceClient
	events  eventsv1.EventStreamServiceClient
	breaker *breaker
	track   *tracker
}

// New connects (lazily) to every provider of cfg.
func New(cfg Config, opts Options) (*Providers, error) {
	if opts.BatchSize <= 0 || opts.BatchSize > MaxBatch {
		opts.BatchSize = MaxBatch
	}
	if opts.StaleAfter <= 0 {
		opts.StaleAfter = DefaultStaleAfter
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	ps := &Providers{cfg: cfg, opts: opts, byName: map[string]*provider{}}
	for _, name := range cfg.Names() {
		conn, err := grpcclient.Dial(cfg.Addrs[name], grpcclient.Options{
			Timeout: 5 * time.Second, Idempotent: []string{detailsMethod, confirmMethod, cancelMethod}, MaxAttempts: 2,
		}, opts.DialOptions...)
		if err != nil {
			ps.Close()
			return nil, fmt.Errorf("provider %s: %w", name, err)
		}
		ps.byName[name] = &provider{
			name:    name,
			conn:    conn,
			details: reservationv1.NewReservationProviderServiceClient(conn),
			events:  eventsv1.NewEventStreamServiceClient(conn),
			breaker: newBreaker(name, opts.Breaker),
			track:   &tracker{},
		}
	}
	return ps, nil
}

// Close closes every provider connection.
func (ps *Providers) Close() error {
	var errs []error
	for _, p := range ps.byName {
		errs = append(errs, p.conn.Close())
	}
	return errors.Join(errs...)
}

// Config returns the configuration the providers were made from.
func (ps *Providers) Config() Config { return ps.cfg }

// Provider implements billing.Providers.
func (ps *Providers) Provider(kind billing.Kind) (string, bool) {
	name, ok := ps.cfg.Kinds[kind]
	return name, ok
}

// Details implements billing.Providers: one GetReservationDetails call per chunk of at
// most BatchSize ids, unless the provider's circuit is open, in which case it fails fast
// with ErrCircuitOpen.
func (ps *Providers) Details(ctx context.Context, name string, ids []string, view billing.View) ([]billing.Lookup, error) {
	p, ok := ps.byName[name]
	if !ok {
		return nil, fmt.Errorf("no provider %q is configured", name)
	}
	done, err := p.breaker.Allow()
	if err != nil {
		return nil, ErrCircuitOpen
	}
	pv := typev1.View_VIEW_BASIC
	if view == billing.ViewFull {
		pv = typev1.View_VIEW_FULL
	}
	out := make([]billing.Lookup, 0, len(ids))
	for start := 0; start < len(ids); start += ps.opts.BatchSize {
		chunk := ids[start:min(start+ps.opts.BatchSize, len(ids))]
		// The reply is read as an empty message: its fields stay encoded (see raw.go).
		var reply emptypb.Empty
		err := p.conn.Invoke(ctx, detailsMethod, &reservationv1.GetReservationDetailsRequest{Provider: name, Ids: chunk, View: pv}, &reply)
		if err != nil {
			done(err) // the breaker ignores Canceled: an abandoned page says nothing about the provider
			return nil, describe(err)
		}
		results, err := splitResults(reply.ProtoReflect().GetUnknown())
		if err == nil && len(results) != len(chunk) {
			err = fmt.Errorf("provider answered %d results for %d ids", len(results), len(chunk))
		}
		if err != nil {
			done(err) // a malformed reply counts as a failure (isOutage)
			return nil, err
		}
		for i, r := range results {
			out = append(out, lookup(name, chunk[i], r, view))
		}
	}
	done(nil)
	return out, nil
}

// isOutage reports whether err says the provider is down or too slow, which counts
// towards opening its circuit; a refused request does not. An error that is not a
// status (a malformed reply) reads as Unknown: an outage.
func isOutage(err error) bool {
	switch status.Code(err) {
	case codes.Unavailable, codes.DeadlineExceeded, codes.ResourceExhausted, codes.Internal, codes.Unknown, codes.Unimplemented:
		return true
	}
	return false
}

// describe turns a failed call's error into the short reason shown on the items. It reads
// the status code rather than grpcerr.FromStatus's kind, which folds DEADLINE_EXCEEDED
// into UNAVAILABLE: the panel tells a slow provider from a down one. A refused id list
// stays INVALID_ARGUMENT (kit/errs), so that AddBillItem can tell a reservation id the
// provider cannot have from a provider that failed.
func describe(err error) error {
	switch st := status.Convert(err); st.Code() {
	case codes.InvalidArgument:
		return errs.Invalid("ids", "the provider refused the ids")
	case codes.DeadlineExceeded:
		return errors.New("provider deadline exceeded")
	case codes.Unavailable:
		return errors.New("provider unavailable")
	case codes.Canceled:
		return errors.New("request cancelled")
	default:
		return fmt.Errorf("provider failed: %s", st.Code())
	}
}

// lookup converts one result of GetReservationDetails for id. A found reservation's
// details stay encoded (Raw); for VIEW_BASIC they are decoded into its Summary.
func lookup(provider, id string, r rawResult, view billing.View) billing.Lookup {
	if r.id != id {
		return billing.Lookup{ID: id, Status: billing.LookupUnavailable, Error: "provider answered for another id"}
	}
	switch r.status {
	case reservationv1.ReservationResult_STATUS_FOUND:
		l := billing.Lookup{ID: id, Status: billing.LookupFound, Raw: r.details, Version: detailsVersion(r.details)}
		if view == billing.ViewBasic {
			var d reservationv1.ReservationDetails
			if err := proto.Unmarshal(r.details, &d); err != nil {
				return billing.Lookup{ID: id, Status: billing.LookupUnavailable, Error: "provider sent malformed details"}
			}
			l.Summary = SummaryOf(provider, &d)
		}
		return l
	case reservationv1.ReservationResult_STATUS_NOT_FOUND:
		return billing.Lookup{ID: id, Status: billing.LookupNotFound}
	case reservationv1.ReservationResult_STATUS_DENIED:
		return billing.Lookup{ID: id, Status: billing.LookupDenied}
	}
	return billing.Lookup{ID: id, Status: billing.LookupUnavailable, Error: "provider gave no status"}
}

// SummaryOf reads the summary fields of a provider's common envelope.
func SummaryOf(provider string, d *reservationv1.ReservationDetails) billing.Summary {
	s := billing.Summary{
		Provider: provider, ReservationID: d.GetId(), Kind: billing.Kind(d.GetKind()), CustomerID: d.GetCustomerId(),
		MainStatus: billing.MainStatus(d.GetMainStatus()), SubStatus: d.GetSubStatus(), Title: d.GetTitle(),
		Version: d.GetVersion(),
	}
	if a := d.GetAmount(); a != nil && a.GetCurrencyCode() != "" {
		s.Amount = money.Money{Amount: a.GetAmountMinor(), Currency: a.GetCurrencyCode()}
	}
	if t := d.GetUpdateTime(); t != nil {
		s.UpdateTime = t.AsTime().UTC().Truncate(time.Microsecond)
	}
	return s
}

// Freshness implements billing.Providers.
func (ps *Providers) Freshness(name string) billing.Freshness {
	p, ok := ps.byName[name]
	if !ok {
		return billing.Freshness{State: billing.FreshnessUnavailable}
	}
	return p.track.freshness(ps.opts.Now(), ps.opts.StaleAfter)
}

// CircuitOpen reports whether provider name's circuit breaker currently fails fast.
func (ps *Providers) CircuitOpen(name string) bool {
	p, ok := ps.byName[name]
	return ok && circuitOpen(p.breaker)
}

// Names returns the providers' names, sorted.
func (ps *Providers) Names() []string { return ps.cfg.Names() }

// The pay saga's calls carry a request id, so they are retried on UNAVAILABLE too.
const (
	confirmMethod = "/waybill.reservation.v1.ReservationProviderService/ConfirmReservations"
	cancelMethod  = "/waybill.reservation.v1.ReservationProviderService/CancelReservations"
)

var _ billing.Reservations = (*Providers)(nil)

// Confirm implements billing.Reservations: one ConfirmReservations call. It bypasses the
// circuit breaker, which guards the panel's reads: the saga has its own backoff.
func (ps *Providers) Confirm(ctx context.Context, name string, ids []string, requestID, reference string) ([]billing.ActionOutcome, error) {
	p, ok := ps.byName[name]
	if !ok {
		return nil, fmt.Errorf("no provider %q is configured", name)
	}
	resp, err := p.details.ConfirmReservations(ctx, &reservationv1.ConfirmReservationsRequest{Provider: name, Ids: ids, RequestId: requestID, Reference: reference})
	if err != nil {
		return nil, actionError(name, "confirm", err)
	}
	return outcomes(resp.GetResults()), nil
}

// Cancel implements billing.Reservations: one CancelReservations call.
func (ps *Providers) Cancel(ctx context.Context, name string, ids []string, requestID, reason string, waiveFees bool) ([]billing.ActionOutcome, error) {
	p, ok := ps.byName[name]
	if !ok {
		return nil, fmt.Errorf("no provider %q is configured", name)
	}
	resp, err := p.details.CancelReservations(ctx, &reservationv1.CancelReservationsRequest{Provider: name, Ids: ids, RequestId: requestID, Reason: reason, WaiveFees: waiveFees})
	if err != nil {
		return nil, actionError(name, "cancel", err)
	}
	return outcomes(resp.GetResults()), nil
}

// outcomes converts per-id results.
func outcomes(rs []*reservationv1.ReservationActionResult) []billing.ActionOutcome {
	out := make([]billing.ActionOutcome, len(rs))
	for i, r := range rs {
		switch r.GetOutcome() {
		case reservationv1.ReservationActionResult_OUTCOME_OK:
			out[i] = billing.ActionOutcome{OK: true}
		case reservationv1.ReservationActionResult_OUTCOME_NOT_FOUND:
			out[i] = billing.ActionOutcome{Code: "NOT_FOUND"}
		case reservationv1.ReservationActionResult_OUTCOME_DENIED:
			out[i] = billing.ActionOutcome{Code: "DENIED"}
		default:
			out[i] = billing.ActionOutcome{Code: cmp.Or(r.GetReason(), "FAILED_PRECONDITION")}
		}
	}
	return out
}

// ReasonProviderRefused is the reason of a confirm or cancel that the provider refused
// as a whole, for good; the error has no kind (a caller never sees it: the saga fails the
// batch's items).
const ReasonProviderRefused = "PROVIDER_REFUSED"

// actionError re-kinds a failed confirm or cancel (grpcerr.FromStatus) to what it means
// to the saga: what a retry with the same request id may fix is UNAVAILABLE,
// PROVIDER_UNAVAILABLE (ABORTED included: a request still in progress); a cancelled call
// is context.Canceled; anything else is a refusal of the whole batch.
func actionError(provider, op string, err error) error {
	from := grpcerr.FromStatus(err)
	e, ok := errs.As(from)
	if !ok { // a context error, or no status at all
		return fmt.Errorf("provider %s: %s: %w", provider, op, from)
	}
	msg := fmt.Sprintf("provider %s: %s: %s", provider, op, e.Message)
	switch e.Kind {
	case errs.Unavailable, errs.Aborted, errs.ResourceExhausted:
		return errs.Unreachable(billing.ReasonProviderUnavailable, "%s", msg).WithCause(err)
	}
	return &errs.Error{Kind: errs.Unknown, Reason: ReasonProviderRefused,
		Message: fmt.Sprintf("%s (refused: %s)", msg, e.Kind), Err: err}
}
