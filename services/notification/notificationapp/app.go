// Package notificationapp is the notification service's composition root, the one place
// that constructs its parts: from a Config and the process's serve.Deps it builds the
// storage (notificationpg), the templates (notificationtmpl), the channels (smtpsender,
// smssender), the domain (notification.Service) and the transport (notificationgrpc),
// registers the gRPC services, and runs the background work until the context ends: one
// kit/consumer per source (account, booking, payment, billing, fare, analytics) queueing
// messages in the consumer's transaction, and the workers that send them.
package notificationapp

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/cenkalti/backoff/v5"
	"go.opentelemetry.io/otel/trace"
	"google.golang.org/grpc"

	eventsv1 "github.com/waybill/waybill/gen/waybill/events/v1"
	notificationv1 "github.com/waybill/waybill/gen/waybill/notification/v1"
	"github.com/waybill/waybill/kit/caller"
	"github.com/waybill/waybill/kit/consumer"
	"github.com/waybill/waybill/kit/consumeradmin"
	"github.com/waybill/waybill/kit/grpcclient"
	"github.com/waybill/waybill/kit/serve"
	"github.com/waybill/waybill/kit/txn"
	"github.com/waybill/waybill/services/notification/notification"
	"github.com/waybill/waybill/services/notification/notificationevents"
	"github.com/waybill/waybill/services/notification/notificationgrpc"
	"github.com/waybill/waybill/services/notification/notificationpg"
	"github.com/waybill/waybill/services/notification/notificationtmpl"
	"github.com/waybill/waybill/services/notification/smssender"
	"github.com/waybill/waybill/services/notification/smtpsender"
)

// Name is the service's name: its schema, its ports' entry and its calls' subject.
const Name = "notification"

// consumerName is the name of the consumer of source's events.
func consumerName(source string) string { return "notification-from-" + source }

// Config is the notification service's own configuration.
type Config struct {
	// Sources maps each source service (notificationevents.Sources) to its gRPC address;
	// an empty address leaves that source unconsumed.
	Sources map[string]string
	// SMTP is the email server ("host:port" in SMTPAddr).
	SMTPAddr                   string
	SMTPFrom                   string
	SMTPUsername, SMTPPassword string
	SMTPTLS                    string
	// SMS is "simulator" (the built-in simulator, in process) or the URL of an HTTP SMS
	// gateway (smssender.HTTP).
	SMS string
	// OperatorEmails and OperatorPhones receive analytics' alerts (comma-separated).
	OperatorEmails, OperatorPhones string
	// Workers, Poll, Lease and SendTimeout tune the senders (notification.WorkOptions).
	Workers     int
	Poll        time.Duration
	Lease       time.Duration
	SendTimeout time.Duration
	// Retry is the schedule of failed sends.
	Retry notification.Retry
	// ReminderLead is how long before a hold expires its reminder goes out; 0 sends none.
	ReminderLead time.Duration

	// The settings below have no flags: tests set them.

	// Senders replace the channels' senders (tests pass ones they inspect).
	Senders map[notification.Channel]notification.Sender
	// Reconnect paces resubscribing to a source; zero uses the consumer's default.
	Reconnect consumer.Backoff
	// Now is the workers' clock; nil means time.Now.
	Now func() time.Time
	// DialOptions are added to the sources' connections.
	DialOptions []grpc.DialOption
}

// DefaultConfig returns the defaults: every source at its mesh address, SMTP on
// 127.0.0.1:1025 without TLS (a local relay such as mailpit), the SMS simulator, four
// workers.
func DefaultConfig() Config {
	c := Config{Sources: map[string]string{}, SMTPAddr: "127.0.0.1:1025", SMTPFrom: "Waybill <no-reply@waybill.local>",
		SMTPTLS: "none", SMS: "simulator", Workers: 4, Poll: time.Second, Lease: time.Minute,
		SendTimeout: 30 * time.Second, Retry: notification.DefaultRetry, ReminderLead: 10 * time.Minute}
	for _, s := range notificationevents.Sources {
		c.Sources[s.Name] = serve.DefaultAddr(s.Name)
	}
	return c
}

type sourceAddr struct {
	m    map[string]string
	name string
}

func (a sourceAddr) String() string {
	if a.m == nil {
		return ""
	}
	return a.m[a.name]
}
func (a sourceAddr) Set(s string) error { a.m[a.name] = s; return nil }

// Flags binds c's settings to flags on fs (and so to WAYBILL_<FLAG> variables).
func (c *Config) Flags(fs *flag.FlagSet) {
	if c.Sources == nil {
		c.Sources = map[string]string{}
	}
	for _, s := range notificationevents.Sources {
		fs.Var(sourceAddr{c.Sources, s.Name}, s.Name+"-addr", "gRPC address (host:port) of the "+s.Name+" service, whose events are turned into messages (empty: not consumed)")
	}
	fs.StringVar(&c.SMTPAddr, "smtp-addr", c.SMTPAddr, "SMTP server host:port")
	fs.StringVar(&c.SMTPFrom, "smtp-from", c.SMTPFrom, "sender address of emails")
	fs.StringVar(&c.SMTPUsername, "smtp-username", c.SMTPUsername, "SMTP AUTH user (empty: no authentication)")
	fs.StringVar(&c.SMTPPassword, "smtp-password", c.SMTPPassword, "SMTP AUTH password")
	fs.StringVar(&c.SMTPTLS, "smtp-tls", c.SMTPTLS, "none, opportunistic or mandatory")
	fs.StringVar(&c.SMS, "sms", c.SMS, `"simulator" or the URL of an HTTP SMS gateway`)
	fs.StringVar(&c.OperatorEmails, "operator-emails", c.OperatorEmails, "comma-separated email addresses that receive analytics alerts")
	fs.StringVar(&c.OperatorPhones, "operator-phones", c.OperatorPhones, "comma-separated E.164 numbers that receive analytics alerts by SMS")
	fs.IntVar(&c.Workers, "notification-workers", c.Workers, "concurrent senders")
	fs.DurationVar(&c.Poll, "notification-poll", c.Poll, "how often idle senders look for due messages (new messages of this process wake them at once; the poll finds retries that came due and other replicas' messages)")
	fs.DurationVar(&c.Lease, "notification-lease", c.Lease, "how long a sender holds a message before another may send it again (after a crash)")
	fs.IntVar(&c.Retry.Attempts, "notification-attempts", c.Retry.Attempts, "attempts before a message is parked")
	fs.DurationVar(&c.Retry.Base, "notification-retry-base", c.Retry.Base, "wait after the first failed attempt (doubling after each further one)")
	fs.DurationVar(&c.Retry.Max, "notification-retry-max", c.Retry.Max, "longest wait between attempts")
	fs.DurationVar(&c.ReminderLead, "hold-reminder-lead", c.ReminderLead, "how long before a hold expires its reminder is sent (0: none)")
}

// Validate reports settings the service cannot run with.
func (c Config) Validate() error {
	var problems []error
	if _, err := c.smtp(); err != nil {
		problems = append(problems, fmt.Errorf("--smtp-*: %w", err))
	}
	if c.SMS != "simulator" && !strings.HasPrefix(c.SMS, "http://") && !strings.HasPrefix(c.SMS, "https://") {
		problems = append(problems, fmt.Errorf(`--sms must be "simulator" or an http(s) URL, not %q`, c.SMS))
	}
	if c.Workers < 1 || c.Poll <= 0 || c.Lease <= 0 || c.Retry.Attempts < 1 || c.Retry.Base <= 0 || c.Retry.Max < c.Retry.Base || c.ReminderLead < 0 {
		problems = append(problems, errors.New("--notification-workers and --notification-attempts must be at least 1, --notification-poll, --notification-lease and --notification-retry-base positive, --notification-retry-max at least the base, --hold-reminder-lead not negative"))
	}
	for name := range c.Sources {
		known := false
		for _, s := range notificationevents.Sources {
			known = known || s.Name == name
		}
		if !known {
			problems = append(problems, fmt.Errorf("unknown source %q", name))
		}
	}
	return errors.Join(problems...)
}

// smtp returns the SMTP sender's configuration.
func (c Config) smtp() (smtpsender.Config, error) {
	host, port, err := net.SplitHostPort(c.SMTPAddr)
	if err != nil {
		return smtpsender.Config{}, err
	}
	p, err := strconv.Atoi(port)
	if err != nil {
		return smtpsender.Config{}, fmt.Errorf("port %q: %w", port, err)
	}
	sc := smtpsender.Config{Host: host, Port: p, From: c.SMTPFrom, Username: c.SMTPUsername, Password: c.SMTPPassword, TLS: c.SMTPTLS}
	return sc, sc.Validate()
}

// operators returns the destinations of operator alerts.
func (c Config) operators() []notification.Destination {
	var out []notification.Destination
	for _, list := range []struct {
		s  string
		ch notification.Channel
	}{{c.OperatorEmails, notification.Email}, {c.OperatorPhones, notification.SMS}} {
		for _, a := range strings.Split(list.s, ",") {
			if a = strings.TrimSpace(a); a != "" {
				out = append(out, notification.Destination{Recipient: notification.OperatorsRecipient, Channel: list.ch, Address: a,
					Locale: notification.DefaultLocale, Name: "operator"})
			}
		}
	}
	return out
}

// Spec returns the service's spec for kit/serve.
func Spec() serve.Spec {
	c := DefaultConfig()
	return serve.Spec{
		Name:       Name,
		Migrations: notificationpg.Migrations,
		EventTypes: notificationpg.EventTypes,
		Flags:      c.Flags,
		Register:   func(ctx context.Context, d serve.Deps) error { return Register(ctx, d, c) },
	}
}

// Register builds the service from c on d and registers its gRPC services
// (NotificationService and ConsumerAdminService; EventStreamService comes with the event
// log). Its consumers and workers run until ctx ends, once the migrations are applied.
func Register(ctx context.Context, d serve.Deps, c Config) error {
	if err := c.Validate(); err != nil {
		return fmt.Errorf("notification config: %w", err)
	}
	if d.Pool == nil || d.Server == nil {
		return errors.New("notification: Deps needs a pool and a server")
	}
	logger := d.Logger
	render, err := notificationtmpl.New()
	if err != nil {
		return fmt.Errorf("notification templates: %w", err)
	}
	senders := c.Senders
	if senders == nil {
		sc, _ := c.smtp() // checked by Validate
		mail, err := smtpsender.New(sc)
		if err != nil {
			return err
		}
		var sms notification.Sender = smssender.NewSimulator()
		if c.SMS != "simulator" {
			sms = smssender.NewHTTP(c.SMS, c.SendTimeout)
		}
		senders = map[notification.Channel]notification.Sender{notification.Email: mail, notification.SMS: sms}
	}
	log, _ := d.EventLog(ctx, Name, notificationpg.EventTypes)
	store := notificationpg.New(d.Pool, notificationpg.Options{MessageEvent: notificationgrpc.MessageEvent, Notify: log.Notify})
	svc := notification.New(store, render, senders, notification.Options{Operators: c.operators(), Retry: c.Retry, Now: c.Now,
		Logger: logger.With(slog.String("component", "notification-workers"))})
	notificationv1.RegisterNotificationServiceServer(d.Server.GRPC, notificationgrpc.New(svc))

	dial := append([]grpc.DialOption(nil), c.DialOptions...)
	if d.Auth != nil {
		dial = append(dial, d.Auth.DialOption(caller.Caller{Subject: Name, Role: caller.Service}))
	}
	var tp trace.TracerProvider
	cfgs := []consumer.Config{}
	var conns []*grpc.ClientConn
	handler := Handler(svc, store, notificationevents.Decoder{ReminderLead: c.ReminderLead})
	handlers := map[string]consumer.Handler{}
	for _, s := range notificationevents.Sources {
		addr := c.Sources[s.Name]
		if addr == "" {
			continue
		}
		conn, err := grpcclient.Dial(addr, grpcclient.Options{}, dial...)
		if err != nil {
			for _, c := range conns {
				_ = c.Close()
			}
			return fmt.Errorf("%s service %s: %w", s.Name, addr, err)
		}
		conns = append(conns, conn)
		cc := consumer.Config{Name: consumerName(s.Name), Source: s.Name, Client: eventsv1.NewEventStreamServiceClient(conn),
			Pool: d.Pool, Types: s.Types, PayloadMode: eventsv1.PayloadMode_PAYLOAD_MODE_FULL, Logger: logger,
			Reconnect: c.Reconnect, Notify: func() { log.Notify(); svc.Wake() }}
		if d.Telemetry != nil {
			cc.Meter, cc.TracerProvider = d.Telemetry.MeterProvider.Meter(Name), d.Telemetry.TracerProvider
			tp = d.Telemetry.TracerProvider
		}
		cfgs = append(cfgs, cc)
		handlers[cc.Name] = handler
	}
	consumeradmin.Register(d.Server.GRPC, Name, consumer.NewParking(d.Pool, handlers,
		consumer.ParkingOptions{Notify: log.Notify, TracerProvider: tp}))

	go func() {
		defer func() {
			for _, c := range conns {
				_ = c.Close()
			}
		}()
		if !d.AwaitMigrations(ctx) {
			return
		}
		var wg sync.WaitGroup
		for _, cc := range cfgs {
			wg.Add(1)
			go func() { defer wg.Done(); runConsumer(ctx, cc, handler, logger) }()
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			svc.Work(ctx, notification.WorkOptions{Workers: c.Workers, Poll: c.Poll, Lease: c.Lease, SendTimeout: c.SendTimeout})
		}()
		wg.Wait()
	}()
	return nil
}

// Handler returns the consumers' handler: the event decoded (notificationevents) and
// each item applied (notification.Service.Apply) in the consumer's transaction, so the
// messages are queued exactly once with the cursor's advance.
func Handler(svc *notification.Service, store *notificationpg.Store, dec notificationevents.Decoder) consumer.Handler {
	return func(ctx context.Context, tx *txn.Tx, ev *eventsv1.Event) error {
		items, err := dec.Decode(ev)
		if err != nil {
			return err
		}
		q := store.In(tx)
		for _, it := range items {
			if err := svc.Apply(ctx, q, it); err != nil {
				return err
			}
		}
		return nil
	}
}

func restartBackoff() backoff.BackOff {
	return &backoff.ExponentialBackOff{InitialInterval: time.Second, RandomizationFactor: 0.2, Multiplier: 2,
		MaxInterval: 30 * time.Second}
}

// runConsumer runs consumer cfg with handler h until ctx ends, restarting it with
// restartBackoff when its cursor fell out of the source's retention.
func runConsumer(ctx context.Context, cfg consumer.Config, h consumer.Handler, logger *slog.Logger) {
	_, _ = backoff.Retry(ctx, func() (struct{}, error) { return struct{}{}, consumer.Run(ctx, cfg, h) },
		backoff.WithBackOff(restartBackoff()), backoff.WithMaxElapsedTime(0),
		backoff.WithNotify(func(err error, next time.Duration) {
			logger.Error("consumer stopped", slog.String("consumer", cfg.Name), slog.Any("error", err), slog.Duration("restart_in", next))
		}))
}
