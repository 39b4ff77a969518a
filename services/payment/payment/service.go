package payment

import (
	"context"
	"io"
	"log/slog"
	"time"

	"github.com/waybill/waybill/kit/idempotency"
	"github.com/waybill/waybill/kit/ids"
)

// Defaults of Options.
const (
	DefaultLease            = idempotency.DefaultLease
	DefaultProcessorTimeout = 10 * time.Second
	DefaultAuthorizationTTL = 7 * 24 * time.Hour
	// commitTimeout bounds recording an outcome after the processor answered; it runs even
	// when the caller went away.
	commitTimeout = 15 * time.Second
)

// DevHashKey is the request-hash key used when none is configured: fine on a laptop, never in
// production.
const DevHashKey = "waybill-payment-development-hash-key"

// Options configures a Service. The zero value uses the defaults.
type Options struct {
	// Now is the clock; time.Now by default. Tests move it to settle past days and expire
	// leases.
	Now func() time.Time
	// Lease is how long a busy operation belongs to the attempt that started it; after that
	// another attempt may reconcile it. It must exceed ProcessorTimeout, and equal the lease
	// of the store's idempotency keys (idempotencypg.Options.Lease), which the attempt
	// holds for as long.
	Lease time.Duration
	// ProcessorTimeout bounds each processor call.
	ProcessorTimeout time.Duration
	// AuthorizationTTL is how long an authorization may be captured before the service voids it.
	AuthorizationTTL time.Duration
	// HashKey keys the hash of CreatePaymentMethod requests, which contain card data; every
	// replica must use the same key. DevHashKey when empty.
	HashKey []byte
	// AfterProcessorCall, when set, runs after every money-moving processor call and before its
	// outcome is recorded; an error aborts the call there, as if the process died. Tests use it
	// to simulate crashes.
	AfterProcessorCall func(ctx context.Context, method string) error
	// Logger logs background work; discarded when nil. Card data is never logged.
	Logger *slog.Logger
}

// Service is the payment service's use cases.
type Service struct {
	store Store
	proc  Processor
	opts  Options
	log   *slog.Logger
}

// New returns a Service storing in store and calling proc.
func New(store Store, proc Processor, opts Options) *Service {
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Lease <= 0 {
		opts.Lease = DefaultLease
	}
	if opts.ProcessorTimeout <= 0 {
		opts.ProcessorTimeout = DefaultProcessorTimeout
	}
	if opts.ProcessorTimeout >= opts.Lease {
		// An attempt must be done with the processor before anyone may take over its key.
		opts.ProcessorTimeout = opts.Lease / 2
	}
	if opts.AuthorizationTTL <= 0 {
		opts.AuthorizationTTL = DefaultAuthorizationTTL
	}
	if len(opts.HashKey) == 0 {
		opts.HashKey = []byte(DevHashKey)
	}
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	return &Service{store: store, proc: proc, opts: opts, log: log}
}

// ProcessorName names the processor adapter in use.
func (s *Service) ProcessorName() string { return s.proc.Name() }

// now returns the clock's time in UTC at the database's microsecond precision, so a value
// returned at once equals the value read back later.
func (s *Service) now() time.Time { return s.opts.Now().UTC().Truncate(time.Microsecond) }

// afterProcessor runs the crash-simulation hook.
func (s *Service) afterProcessor(ctx context.Context, method string) error {
	if s.opts.AfterProcessorCall == nil {
		return nil
	}
	return s.opts.AfterProcessorCall(ctx, method)
}

// commitContext is the context outcomes are recorded in: not cancelled with the caller's,
// since the processor has already acted.
func commitContext(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.WithoutCancel(ctx), commitTimeout)
}

// NewID returns a random (version 4) UUID.
func NewID() string { return ids.New() }
