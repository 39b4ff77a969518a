// Package providertest is a small but real reservation provider for billing's tests and
// benchmarks: a gRPC server implementing waybill.reservation.v1.ReservationProviderService
// from its own PostgreSQL schema, and waybill.events.v1.EventStreamService through
// kit/outbox and kit/eventstream, so billing plugs it in by configuration like any other
// provider. Its events carry one of several payload styles (the common
// ReservationDetails envelope, booking's or trip's payload, or one billing cannot read).
package providertest

import (
	"context"
	"embed"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"
	"google.golang.org/protobuf/types/known/wrapperspb"

	bookingv1 "github.com/waybill/waybill/gen/waybill/booking/v1"
	eventsv1 "github.com/waybill/waybill/gen/waybill/events/v1"
	reservationv1 "github.com/waybill/waybill/gen/waybill/reservation/v1"
	tripv1 "github.com/waybill/waybill/gen/waybill/trip/v1"
	typev1 "github.com/waybill/waybill/gen/waybill/type/v1"
	"github.com/waybill/waybill/kit/auth"
	"github.com/waybill/waybill/kit/eventstream"
	"github.com/waybill/waybill/kit/grpcserver"
	"github.com/waybill/waybill/kit/outbox"
	"github.com/waybill/waybill/kit/pgxutil"
	"github.com/waybill/waybill/kit/telemetry"
	"github.com/waybill/waybill/kit/txn"
)

//go:embed migrations/*.sql
var migrationFiles embed.FS

// Migrations holds a test provider's tables: reservations and the outbox's.
var Migrations = pgxutil.MustMergeMigrations(pgxutil.Dir(migrationFiles, "migrations"), outbox.Migrations)

// Payload is the style of the events' payloads.
type Payload int

// The payload styles.
const (
	// PayloadDetails publishes the common waybill.reservation.v1.ReservationDetails.
	PayloadDetails Payload = iota
	// PayloadBooking publishes booking's waybill.booking.v1.ReservationEvent.
	PayloadBooking
	// PayloadTrip publishes trip's waybill.trip.v1.TripEvent.
	PayloadTrip
	// PayloadOpaque publishes a payload billing cannot read, so billing must fetch the
	// details.
	PayloadOpaque
)

// Reservation is a test reservation: the fields of the common envelope.
type Reservation struct {
	// ID, CustomerID, Title and SubStatus are as in ReservationDetails.
	ID, CustomerID, Title, SubStatus string
	// Currency is the price's currency (default EUR) and Amount the price in minor units.
	Currency string
	Amount   int64
	// Kind and Status are the reservation's kind and main status.
	Kind   reservationv1.Kind
	Status reservationv1.MainStatus
	// UpdateTime and Version are set by Create and Update.
	UpdateTime time.Time
	Version    int64
	// CancelReason and FeesWaived record the last CancelReservations that cancelled it.
	CancelReason string
	FeesWaived   bool
}

// Options configures a Provider.
type Options struct {
	// Name is the provider's name, also its schema.
	Name string
	// Pool is a pool on the provider's schema, migrated with Migrations.
	Pool *pgxpool.Pool
	// Payload is the style of its events' payloads.
	Payload Payload
	// Signer verifies callers' tokens.
	Signer *auth.Signer
	// Addr is the listen address; empty picks a free loopback port.
	Addr string
	// Heartbeat is the event stream's heartbeat interval (default 200 ms, fast for tests).
	Heartbeat time.Duration
}

// Provider is a running test provider.
type Provider struct {
	reservationv1.UnimplementedReservationProviderServiceServer
	opts Options
	log  *outbox.Log
	txn  *txn.Runner // transactions that emit to log and wake its sequencer

	// Calls counts GetReservationDetails calls answered.
	Calls atomic.Int64
	delay atomic.Int64 // nanoseconds added to every GetReservationDetails

	actionsDown atomic.Bool
	countMu     sync.Mutex
	counts      actionCounts

	mu     sync.Mutex
	addr   string
	cancel context.CancelFunc
	done   chan struct{}
}

// Start starts a provider; stop it with Stop.
func Start(opts Options) (*Provider, error) {
	if opts.Heartbeat <= 0 {
		opts.Heartbeat = 200 * time.Millisecond
	}
	p := &Provider{opts: opts}
	if err := p.serve(opts.Addr); err != nil {
		return nil, err
	}
	return p, nil
}

// Addr returns the provider's gRPC address.
func (p *Provider) Addr() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.addr
}

// Name returns the provider's name.
func (p *Provider) Name() string { return p.opts.Name }

// SetDelay makes every GetReservationDetails call take d longer (0: none).
func (p *Provider) SetDelay(d time.Duration) { p.delay.Store(int64(d)) }

func (p *Provider) serve(addr string) error {
	if addr == "" {
		addr = "127.0.0.1:0"
	}
	var lis net.Listener
	var err error
	for range 50 { // a restart may find the port still in TIME_WAIT for a moment
		if lis, err = net.Listen("tcp", addr); err == nil {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err != nil {
		return err
	}
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	tel, err := telemetry.Setup(context.Background(), "providertest", func(string) string { return "" })
	if err != nil {
		return err
	}
	srv := grpcserver.New(grpcserver.Config{Name: p.opts.Name, DefaultTimeout: 10 * time.Second, ShutdownTimeout: time.Second}, logger, tel,
		grpc.ChainUnaryInterceptor(p.opts.Signer.UnaryServerInterceptor()),
		grpc.ChainStreamInterceptor(p.opts.Signer.StreamServerInterceptor()))
	ctx, cancel := context.WithCancel(context.Background())
	p.log = outbox.New(p.opts.Pool, p.opts.Name, outbox.Options{Logger: logger, PollInterval: 50 * time.Millisecond})
	p.txn = txn.New(p.opts.Pool, txn.Options{Notify: p.log.Notify})
	reader := eventstream.NewReader(p.opts.Pool, p.opts.Name, p.log, eventstream.ReaderOptions{Logger: logger, PollInterval: 100 * time.Millisecond})
	reservationv1.RegisterReservationProviderServiceServer(srv.GRPC, p)
	eventsv1.RegisterEventStreamServiceServer(srv.GRPC, eventstream.NewServer(p.opts.Name, EventTypes, reader,
		eventstream.ServerOptions{Heartbeat: p.opts.Heartbeat, Draining: srv.Draining(), Logger: logger}))
	done := make(chan struct{})
	go func() { _ = p.log.Run(ctx) }()
	go func() { _ = reader.Run(ctx) }()
	go func() {
		defer close(done)
		_ = srv.Serve(ctx, lis, nil)
	}()
	p.mu.Lock()
	p.addr, p.cancel, p.done = lis.Addr().String(), cancel, done
	p.mu.Unlock()
	return nil
}

// Stop kills the provider's server (its data stays).
func (p *Provider) Stop() {
	p.mu.Lock()
	cancel, done := p.cancel, p.done
	p.cancel = nil
	p.mu.Unlock()
	if cancel != nil {
		cancel()
		<-done
	}
}

// Restart starts the provider again on its address.
func (p *Provider) Restart() error {
	p.Stop()
	return p.serve(p.Addr())
}

// EventTypes are the test provider's event types.
var EventTypes = []string{"test.reservation.created", "test.reservation.updated"}

// GetReservationDetails implements reservationv1.ReservationProviderServiceServer with one
// query for the whole batch.
func (p *Provider) GetReservationDetails(ctx context.Context, req *reservationv1.GetReservationDetailsRequest) (*reservationv1.GetReservationDetailsResponse, error) {
	p.Calls.Add(1)
	if d := time.Duration(p.delay.Load()); d > 0 {
		select {
		case <-time.After(d):
		case <-ctx.Done():
			return nil, status.FromContextError(ctx.Err()).Err()
		}
	}
	if _, err := auth.Require(ctx); err != nil {
		return nil, err
	}
	if n := len(req.GetIds()); n == 0 || n > 500 {
		return nil, status.Errorf(codes.InvalidArgument, "ids: want 1 to 500, got %d", n)
	}
	if req.GetProvider() != "" && req.GetProvider() != p.opts.Name {
		return nil, status.Errorf(codes.InvalidArgument, "provider: this is %s", p.opts.Name)
	}
	rows, err := p.opts.Pool.Query(ctx, selectSQL+` WHERE id = ANY($1)`, req.GetIds())
	if err != nil {
		return nil, err
	}
	found, err := pgx.CollectRows(rows, scanReservation)
	if err != nil {
		return nil, err
	}
	byID := make(map[string]Reservation, len(found))
	for _, r := range found {
		byID[r.ID] = r
	}
	resp := &reservationv1.GetReservationDetailsResponse{Results: make([]*reservationv1.ReservationResult, 0, len(req.GetIds()))}
	for _, id := range req.GetIds() {
		r, ok := byID[id]
		if !ok {
			resp.Results = append(resp.Results, &reservationv1.ReservationResult{Id: id, Status: reservationv1.ReservationResult_STATUS_NOT_FOUND})
			continue
		}
		resp.Results = append(resp.Results, &reservationv1.ReservationResult{Id: id, Status: reservationv1.ReservationResult_STATUS_FOUND,
			Details: details(r, req.GetView() == typev1.View_VIEW_FULL)})
	}
	return resp, nil
}

// details is r's common envelope.
func details(r Reservation, full bool) *reservationv1.ReservationDetails {
	d := &reservationv1.ReservationDetails{
		Id: r.ID, Kind: r.Kind, MainStatus: r.Status, SubStatus: r.SubStatus, CustomerId: r.CustomerID,
		Amount: &typev1.Money{AmountMinor: r.Amount, CurrencyCode: r.Currency}, Title: r.Title,
		Subtitle: "test reservation", UpdateTime: timestamppb.New(r.UpdateTime), Version: r.Version,
	}
	if full {
		d.Timeline = []*reservationv1.TimelineEntry{{Time: timestamppb.New(r.UpdateTime), Label: "changed"}}
		d.KindDetails = &reservationv1.ReservationDetails_Seat{Seat: &reservationv1.SeatDetails{Carrier: "TS", Number: r.ID, SeatCount: 1}}
	}
	return d
}

const selectSQL = `SELECT id, kind, customer_id, main_status, sub_status, amount_minor, currency_code, title, update_time, version, cancel_reason, fees_waived FROM reservations`

func scanReservation(row pgx.CollectableRow) (Reservation, error) {
	var r Reservation
	var kind, st int32
	err := row.Scan(&r.ID, &kind, &r.CustomerID, &st, &r.SubStatus, &r.Amount, &r.Currency, &r.Title, &r.UpdateTime, &r.Version,
		&r.CancelReason, &r.FeesWaived)
	r.Kind, r.Status = reservationv1.Kind(kind), reservationv1.MainStatus(st)
	r.UpdateTime = r.UpdateTime.UTC()
	return r, err
}

// Create stores reservations and emits their events.
func (p *Provider) Create(ctx context.Context, rs ...Reservation) error {
	return p.txn.Run(ctx, func(tx *txn.Tx) error {
		for _, r := range rs {
			r.Version, r.UpdateTime = 1, time.Now().UTC().Truncate(time.Microsecond)
			if r.Currency == "" {
				r.Currency = "EUR"
			}
			if _, err := tx.Exec(ctx, `INSERT INTO reservations (id, kind, customer_id, main_status, sub_status, amount_minor, currency_code, title, update_time, version)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)`, r.ID, int32(r.Kind), r.CustomerID, int32(r.Status), r.SubStatus, r.Amount, r.Currency, r.Title, r.UpdateTime, r.Version); err != nil {
				return err
			}
			tx.Emit(outbox.Event{Type: EventTypes[0], Key: r.ID, Payload: p.payload(r)})
		}
		return nil
	})
}

// Get returns reservation id.
func (p *Provider) Get(ctx context.Context, id string) (Reservation, error) {
	rows, err := p.opts.Pool.Query(ctx, selectSQL+` WHERE id = $1`, id)
	if err != nil {
		return Reservation{}, err
	}
	return pgx.CollectExactlyOneRow(rows, scanReservation)
}

func nowMicros() time.Time { return time.Now().UTC().Truncate(time.Microsecond) }

// Update changes reservation id with fn, raises its version and emits its event.
func (p *Provider) Update(ctx context.Context, id string, fn func(r *Reservation)) (Reservation, error) {
	var out Reservation
	err := p.txn.Run(ctx, func(tx *txn.Tx) error {
		rows, err := tx.Query(ctx, selectSQL+` WHERE id = $1 FOR UPDATE`, id)
		if err != nil {
			return err
		}
		r, err := pgx.CollectExactlyOneRow(rows, scanReservation)
		if err != nil {
			return err
		}
		fn(&r)
		r.Version++
		r.UpdateTime = time.Now().UTC().Truncate(time.Microsecond)
		if _, err := tx.Exec(ctx, `UPDATE reservations SET main_status = $2, sub_status = $3, amount_minor = $4, title = $5, update_time = $6, version = $7 WHERE id = $1`,
			r.ID, int32(r.Status), r.SubStatus, r.Amount, r.Title, r.UpdateTime, r.Version); err != nil {
			return err
		}
		out = r
		tx.Emit(outbox.Event{Type: EventTypes[1], Key: r.ID, Payload: p.payload(r)})
		return nil
	})
	// kit/txn returns no rows as errs.NotFound, whose cause is pgx.ErrNoRows.
	if errors.Is(err, pgx.ErrNoRows) {
		return Reservation{}, fmt.Errorf("reservation %s: not found", id)
	}
	return out, err
}

// payload is r's event payload in the provider's style.
func (p *Provider) payload(r Reservation) proto.Message {
	money := &typev1.Money{AmountMinor: r.Amount, CurrencyCode: r.Currency}
	switch p.opts.Payload {
	case PayloadBooking:
		return &bookingv1.ReservationEvent{Reservation: &bookingv1.Reservation{
			Id: r.ID, CustomerId: r.CustomerID, Kind: r.Kind, Status: bookingStatus[r.Status], SubStatus: r.SubStatus,
			Price: money, UpdateTime: timestamppb.New(r.UpdateTime), Version: r.Version,
		}}
	case PayloadTrip:
		return &tripv1.TripEvent{Trip: &tripv1.Trip{
			Id: r.ID, CustomerId: r.CustomerID, Status: tripStatus[r.Status], SubStatus: r.SubStatus,
			Estimate: money, UpdateTime: timestamppb.New(r.UpdateTime), Version: r.Version,
		}}
	case PayloadOpaque:
		return wrapperspb.String(r.ID)
	}
	return details(r, false)
}

var bookingStatus = map[reservationv1.MainStatus]bookingv1.ReservationStatus{
	reservationv1.MainStatus_MAIN_STATUS_PENDING:     bookingv1.ReservationStatus_RESERVATION_STATUS_HELD,
	reservationv1.MainStatus_MAIN_STATUS_CONFIRMED:   bookingv1.ReservationStatus_RESERVATION_STATUS_CONFIRMED,
	reservationv1.MainStatus_MAIN_STATUS_IN_PROGRESS: bookingv1.ReservationStatus_RESERVATION_STATUS_CHECKED_IN,
	reservationv1.MainStatus_MAIN_STATUS_COMPLETED:   bookingv1.ReservationStatus_RESERVATION_STATUS_COMPLETED,
	reservationv1.MainStatus_MAIN_STATUS_CANCELLED:   bookingv1.ReservationStatus_RESERVATION_STATUS_CANCELLED,
	reservationv1.MainStatus_MAIN_STATUS_EXPIRED:     bookingv1.ReservationStatus_RESERVATION_STATUS_EXPIRED,
}

var tripStatus = map[reservationv1.MainStatus]tripv1.TripStatus{
	reservationv1.MainStatus_MAIN_STATUS_PENDING:     tripv1.TripStatus_TRIP_STATUS_REQUESTED,
	reservationv1.MainStatus_MAIN_STATUS_CONFIRMED:   tripv1.TripStatus_TRIP_STATUS_DRIVER_ASSIGNED,
	reservationv1.MainStatus_MAIN_STATUS_IN_PROGRESS: tripv1.TripStatus_TRIP_STATUS_STARTED,
	reservationv1.MainStatus_MAIN_STATUS_COMPLETED:   tripv1.TripStatus_TRIP_STATUS_ENDED,
	reservationv1.MainStatus_MAIN_STATUS_CANCELLED:   tripv1.TripStatus_TRIP_STATUS_CANCELLED,
}
