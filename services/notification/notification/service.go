package notification

import (
	"context"

	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/waybill/waybill/kit/caller"
	"github.com/waybill/waybill/kit/errs"
	"github.com/waybill/waybill/kit/ids"
)

// Rendered is a rendered message.
type Rendered struct {
	// Locale is the locale rendered: the destination's, its language ("de" for "de-CH"),
	// or the default.
	Locale string
	// Subject, Text and HTML are the email's; Text is the body of an SMS.
	Subject, Text, HTML string
}

// Renderer renders a template set for a destination (notificationtmpl.Renderer).
type Renderer interface {
	Render(set string, d Destination, data map[string]any) (Rendered, error)
}

// Queue is the storage of one consumer transaction: what applying an event writes.
type Queue interface {
	// Contact returns the copy of a customer's contacts, nil when none is known.
	Contact(ctx context.Context, customerID string) (*Contact, error)
	// ApplyContact stores c unless the copy held is of the same or a newer version.
	ApplyContact(ctx context.Context, c Contact) error
	// Enqueue queues messages; one whose (event, recipient, channel) is queued already
	// is not queued again.
	Enqueue(ctx context.Context, msgs []Message) error
	// Settle skips the pending reminders about topic.
	Settle(ctx context.Context, topic string) error
}

// Store is the storage of the queue's workers and of the API.
type Store interface {
	// Claim takes up to limit messages due at now for a worker, for lease: they are
	// SENDING until the worker reports, or until the lease runs out and another worker
	// takes them again. Messages past their expiry are skipped instead.
	Claim(ctx context.Context, now time.Time, limit int, lease time.Duration) ([]Message, error)
	// Sent records that m was accepted (if m's claim still holds).
	Sent(ctx context.Context, m Message, now time.Time) error
	// Failed records a failed attempt of m: PENDING again at next, or PARKED when park.
	Failed(ctx context.Context, m Message, cause string, next time.Time, park bool) error
	// List lists messages, newest first.
	List(ctx context.Context, f Filter, pageToken string, limit int) ([]Message, string, error)
	// Get returns one message (NotFound when unknown).
	Get(ctx context.Context, id string) (Message, error)
	// Retry queues a parked message again; Discard gives it up. Both fail with
	// FailedPrecondition when it is not parked.
	Retry(ctx context.Context, id string, now time.Time) (Message, error)
	Discard(ctx context.Context, id string) (Message, error)
}

// Filter selects messages to list.
type Filter struct {
	// CustomerID selects one customer's messages (or OperatorsRecipient's); empty all.
	CustomerID string
	// Status selects one status; empty all.
	Status Status
}

// Options configure a Service.
type Options struct {
	// Operators are the destinations of operator alerts.
	Operators []Destination
	// Retry is the schedule of failed sends; zero means DefaultRetry.
	Retry Retry
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// Logger receives the workers' logs; nil discards them.
	Logger *slog.Logger
}

// Service is the notification use cases.
type Service struct {
	store   Store
	render  Renderer
	senders map[Channel]Sender
	opts    Options
	wake    chan struct{}
}

// New returns the use cases.
func New(store Store, render Renderer, senders map[Channel]Sender, o Options) *Service {
	if o.Retry == (Retry{}) {
		o.Retry = DefaultRetry
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	return &Service{store: store, render: render, senders: senders, opts: o, wake: make(chan struct{}, 1)}
}

// Apply applies one decoded item of an event (a Trigger, a Contact or a Settle, see
// notificationevents) through q, the consumer's transaction: a trigger is
// routed (Route), rendered for each destination and queued. A rendering error is
// returned: the consumer retries the event and finally parks it, visibly, rather than
// sending something broken.
func (s *Service) Apply(ctx context.Context, q Queue, item any) error {
	switch x := item.(type) {
	case Contact:
		return q.ApplyContact(ctx, x)
	case Trigger:
		return s.queue(ctx, q, x)
	case Settle:
		return q.Settle(ctx, x.Topic)
	}
	return fmt.Errorf("notification: cannot apply %T", item)
}

// Settle says that pending reminders about Topic no longer apply (the reservation left
// HELD).
type Settle struct{ Topic string }

func (s *Service) queue(ctx context.Context, q Queue, t Trigger) error {
	var c *Contact
	if t.Category == Transactional || t.Category == RideUpdates {
		var err error
		if c, err = q.Contact(ctx, t.CustomerID); err != nil {
			return err
		}
	}
	dests := Route(t, c, s.opts.Operators)
	if len(dests) == 0 {
		return nil
	}
	msgs := make([]Message, 0, len(dests))
	for _, d := range dests {
		r, err := s.render.Render(t.Template, d, t.Data)
		if err != nil {
			return fmt.Errorf("render %s for %s: %w", t.Template, d.Channel, err)
		}
		next := t.SendAfter
		recipient := d.Recipient
		if t.Category == OperatorAlert {
			recipient = OperatorsRecipient + ":" + d.Address
		}
		msgs = append(msgs, Message{ID: ids.New(), EventID: t.EventID, EventType: t.Template, Topic: t.Topic,
			CustomerID: t.CustomerID, Recipient: recipient, Channel: d.Channel, Address: d.Address, Locale: r.Locale,
			Subject: r.Subject, Text: r.Text, HTML: r.HTML, Status: Pending, NextAt: next, ExpiresAt: t.ExpiresAt})
	}
	return q.Enqueue(ctx, msgs)
}

// Wake makes the workers look for due messages now (after a commit that queued some).
func (s *Service) Wake() {
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

// WorkOptions tune the workers.
type WorkOptions struct {
	// Workers is how many send concurrently; 0 means 4.
	Workers int
	// Poll is how often idle workers look for due messages; 0 means 500 ms.
	Poll time.Duration
	// Lease is how long a claimed message is a worker's before another may take it
	// again; 0 means a minute.
	Lease time.Duration
	// SendTimeout bounds one send; 0 means 30 s.
	SendTimeout time.Duration
}

// Work runs the workers until ctx ends: each claims due messages (SKIP LOCKED, so
// workers and replicas never take the same one), sends them through their channel's
// Sender, and records the outcome: SENT, PENDING again after the retry delay, or PARKED
// after the last attempt.
func (s *Service) Work(ctx context.Context, o WorkOptions) {
	if o.Workers <= 0 {
		o.Workers = 4
	}
	if o.Poll <= 0 {
		o.Poll = 500 * time.Millisecond
	}
	if o.Lease <= 0 {
		o.Lease = time.Minute
	}
	if o.SendTimeout <= 0 {
		o.SendTimeout = 30 * time.Second
	}
	var wg sync.WaitGroup
	for range o.Workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			s.worker(ctx, o)
		}()
	}
	wg.Wait()
}

func (s *Service) worker(ctx context.Context, o WorkOptions) {
	t := time.NewTimer(0)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		case <-s.wake:
		}
		for ctx.Err() == nil {
			msgs, err := s.store.Claim(ctx, s.opts.Now(), 1, o.Lease)
			if err != nil {
				if ctx.Err() == nil {
					s.opts.Logger.Warn("claim messages", slog.Any("error", err))
				}
				break
			}
			if len(msgs) == 0 {
				break
			}
			for _, m := range msgs {
				s.send(ctx, m, o.SendTimeout)
			}
		}
		t.Reset(o.Poll)
	}
}

// send sends one claimed message and records the outcome.
func (s *Service) send(ctx context.Context, m Message, timeout time.Duration) {
	sender := s.senders[m.Channel]
	var err error
	if sender == nil {
		err = fmt.Errorf("no sender for channel %s", m.Channel)
	} else {
		sctx, cancel := context.WithTimeout(ctx, timeout)
		err = sender.Send(sctx, m)
		cancel()
	}
	if ctx.Err() != nil {
		return // shutting down: the lease runs out and the message is sent again
	}
	now := s.opts.Now()
	if err == nil {
		if err := s.store.Sent(ctx, m, now); err != nil {
			s.opts.Logger.Warn("record sent message", slog.String("message", m.ID), slog.Any("error", err))
		}
		return
	}
	park := m.Attempts >= s.opts.Retry.Attempts
	s.opts.Logger.Info("send failed", slog.String("message", m.ID), slog.String("channel", string(m.Channel)),
		slog.Int("attempt", m.Attempts), slog.Bool("parked", park), slog.Any("error", err))
	if err := s.store.Failed(ctx, m, err.Error(), now.Add(s.opts.Retry.Delay(m.Attempts)), park); err != nil {
		s.opts.Logger.Warn("record failed message", slog.String("message", m.ID), slog.Any("error", err))
	}
}

// mayOperate returns PERMISSION_DENIED unless c is an operator or a service.
func mayOperate(c caller.Caller) error {
	if !c.Privileged() {
		return errs.Denied("", "only operators may repair notifications")
	}
	return nil
}

// List lists messages for c: a customer only their own.
func (s *Service) List(ctx context.Context, c caller.Caller, f Filter, pageToken string, limit int) ([]Message, string, error) {
	if !c.Privileged() {
		if f.CustomerID != "" && f.CustomerID != c.Subject {
			return nil, "", errs.Denied("", "customers see only their own notifications")
		}
		f.CustomerID = c.Subject
	}
	return s.store.List(ctx, f, pageToken, limit)
}

// Get returns a message c may see; another customer's looks missing.
func (s *Service) Get(ctx context.Context, c caller.Caller, id string) (Message, error) {
	if err := ids.Check("notification_id", id); err != nil {
		return Message{}, err
	}
	m, err := s.store.Get(ctx, id)
	if err != nil {
		return Message{}, err
	}
	if !c.Privileged() && (c.Role != caller.Customer || m.CustomerID != c.Subject) {
		return Message{}, errs.Missing("", "notification %s not found", id)
	}
	return m, nil
}

// Retry queues a parked message again, for operators.
func (s *Service) Retry(ctx context.Context, c caller.Caller, id string) (Message, error) {
	if err := mayOperate(c); err != nil {
		return Message{}, err
	}
	if err := ids.Check("notification_id", id); err != nil {
		return Message{}, err
	}
	m, err := s.store.Retry(ctx, id, s.opts.Now())
	if err == nil {
		s.Wake()
	}
	return m, err
}

// Discard gives up a parked message, for operators.
func (s *Service) Discard(ctx context.Context, c caller.Caller, id string) (Message, error) {
	if err := mayOperate(c); err != nil {
		return Message{}, err
	}
	if err := ids.Check("notification_id", id); err != nil {
		return Message{}, err
	}
	return s.store.Discard(ctx, id)
}

// ReasonNotParked is the reason of the FAILED_PRECONDITION error for retrying or discarding
// a message that is not parked.
const ReasonNotParked = "NOT_PARKED"

// NotParked returns the error for a message in status st that cannot be retried or
// discarded.
func NotParked(id string, st Status) error {
	return errs.Precondition(ReasonNotParked, "notification %s is %s, not parked", id, st)
}
