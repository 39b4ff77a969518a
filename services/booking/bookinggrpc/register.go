// Package bookinggrpc is the booking service's gRPC transport: handlers that validate,
// convert, call the domain and convert back. The booking service owns inventory-based
// reservations: departures, properties, holds, confirm, cancel, check-in/out. Register
// also starts the sweeper that expires lapsed holds and completes ended reservations,
// stopping with the context; the event log comes from serve.Deps.EventLog.
package bookinggrpc

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/protobuf/proto"

	bookingv1 "github.com/waybill/waybill/gen/waybill/booking/v1"
	reservationv1 "github.com/waybill/waybill/gen/waybill/reservation/v1"
	"github.com/waybill/waybill/kit/auth"
	"github.com/waybill/waybill/kit/grpcclient"
	"github.com/waybill/waybill/kit/serve"
	"github.com/waybill/waybill/services/booking/booking"
	"github.com/waybill/waybill/services/booking/bookingpg"
	"github.com/waybill/waybill/services/booking/fareclient"
)

// schema is booking's database schema (its Deps.Pool's search_path).
const schema = "booking"

// DefaultFareAddr is the fare service's default gRPC address.
const DefaultFareAddr = "127.0.0.1:7004"

// fareAddr is set by the --fare-addr flag.
var fareAddr = DefaultFareAddr

// Flags adds booking's flags: --fare-addr, the fare service's gRPC address.
func Flags(fs *flag.FlagSet) {
	fs.StringVar(&fareAddr, "fare-addr", fareAddr, "gRPC address (host:port) of the fare service, which prices holds")
}

// Options configures Start. The zero value is what Register uses, with the flags.
type Options struct {
	// FareAddr is the fare service's address; empty means the --fare-addr flag.
	FareAddr string
	// FareTimeout is the deadline of each fare call; 0 means 2 seconds.
	FareTimeout time.Duration
	// Pricer, when set, prices holds instead of a fare client on FareAddr.
	Pricer booking.Pricer
	// Now is the service clock; nil means time.Now.
	Now func() time.Time
	// SweepInterval is how often lapsed holds expire and ended reservations complete;
	// 0 means every second, negative disables the sweeper (tests call Sweep).
	SweepInterval time.Duration
}

// Booking is a started booking service.
type Booking struct {
	// Service is the domain's use cases, for tests that drive the sweeper directly.
	Service *booking.Service
}

// Register registers the booking service's gRPC services on d.Server and starts its
// background work until ctx ends. d.Pool's search_path must be the booking schema,
// migrated with bookingpg.Migrations.
func Register(ctx context.Context, d serve.Deps) error {
	_, err := Start(ctx, d, Options{})
	return err
}

// Start is Register with options; it returns the service for tests.
func Start(ctx context.Context, d serve.Deps, o Options) (*Booking, error) {
	logger := d.Logger
	if logger == nil {
		logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	if d.Pool == nil || d.Server == nil {
		return nil, errors.New("booking: Deps needs a pool and a server")
	}
	pricer := o.Pricer
	if pricer == nil {
		addr := o.FareAddr
		if addr == "" {
			addr = fareAddr
		}
		opts := grpcclient.Options{Timeout: 5 * time.Second, Idempotent: fareclient.IdempotentMethods}
		var extra []grpc.DialOption
		if d.Auth != nil {
			extra = append(extra, d.Auth.DialOption(auth.Identity{Subject: schema, Role: auth.RoleService}))
		}
		conn, err := grpcclient.Dial(addr, opts, extra...)
		if err != nil {
			return nil, fmt.Errorf("booking: dial fare at %s: %w", addr, err)
		}
		go func() {
			<-ctx.Done()
			_ = conn.Close()
		}()
		pricer = fareclient.New(conn, o.FareTimeout)
	}

	s := d.Server.GRPC
	log, _ := d.EventLog(ctx, schema, booking.EventTypes)

	store := bookingpg.New(d.Pool, bookingpg.Options{
		Encode: func(ev booking.Event) (proto.Message, error) { return eventPayload(ev) },
		Notify: log.Notify,
	})
	svc := booking.New(store, pricer, booking.Options{Now: o.Now})

	bookingv1.RegisterInventoryServiceServer(s, &inventoryServer{svc: svc})
	bookingv1.RegisterReservationServiceServer(s, &reservationServer{svc: svc})
	reservationv1.RegisterReservationProviderServiceServer(s, &providerServer{svc: svc})

	interval := o.SweepInterval
	if interval == 0 {
		interval = time.Second
	}
	if interval > 0 {
		go func() {
			if !d.AwaitMigrations(ctx) { // the sweeper needs booking's tables
				return
			}
			svc.RunSweeper(ctx, interval, func(err error) {
				logger.Warn("booking sweeper", slog.Any("error", err))
			})
		}()
	}
	return &Booking{Service: svc}, nil
}
