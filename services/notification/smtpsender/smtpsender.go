// Package smtpsender is the notification service's email channel: it submits each message
// to a configured SMTP server with github.com/wneessen/go-mail, one connection per
// message (a plain, well-understood failure unit; pooling is left until a measurement
// asks for it). The message id is the email's Message-ID, so that a message sent again
// after a crash between the server's acceptance and the queue's update can be recognized
// as the same one downstream.
package smtpsender

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/wneessen/go-mail"

	"github.com/waybill/waybill/services/notification/notification"
)

// Config is the SMTP server and how to talk to it.
type Config struct {
	// Host and Port are the server's address.
	Host string
	Port int
	// From is the sender address.
	From string
	// Username and Password, when set, authenticate with SMTP AUTH PLAIN.
	Username, Password string
	// TLS is "none" (plain SMTP, for a local relay), "opportunistic" (STARTTLS when
	// offered) or "mandatory".
	TLS string
	// Timeout bounds connecting and each SMTP exchange; 0 means 10 s.
	Timeout time.Duration
	// Domain is the right-hand side of Message-IDs; empty means "waybill.local".
	Domain string
}

// Validate reports a configuration that cannot send.
func (c Config) Validate() error {
	var problems []error
	if c.Host == "" {
		problems = append(problems, errors.New("SMTP host is required"))
	}
	if c.Port <= 0 || c.Port > 65535 {
		problems = append(problems, fmt.Errorf("SMTP port %d is not a port", c.Port))
	}
	if c.From == "" {
		problems = append(problems, errors.New("SMTP from address is required"))
	}
	switch c.TLS {
	case "", "none", "opportunistic", "mandatory":
	default:
		problems = append(problems, fmt.Errorf("SMTP TLS %q: want none, opportunistic or mandatory", c.TLS))
	}
	return errors.Join(problems...)
}

// Sender sends email through an SMTP server.
type Sender struct {
	c    Config
	opts []mail.Option
}

// New returns a sender for c.
func New(c Config) (*Sender, error) {
	if err := c.Validate(); err != nil {
		return nil, err
	}
	if c.Timeout <= 0 {
		c.Timeout = 10 * time.Second
	}
	if c.Domain == "" {
		c.Domain = "waybill.local"
	}
	policy := mail.TLSOpportunistic
	switch c.TLS {
	case "none":
		policy = mail.NoTLS
	case "mandatory":
		policy = mail.TLSMandatory
	}
	opts := []mail.Option{mail.WithPort(c.Port), mail.WithTimeout(c.Timeout), mail.WithTLSPolicy(policy)}
	if c.Username != "" {
		opts = append(opts, mail.WithSMTPAuth(mail.SMTPAuthPlain), mail.WithUsername(c.Username), mail.WithPassword(c.Password))
	}
	return &Sender{c: c, opts: opts}, nil
}

// Send implements notification.Sender.
func (s *Sender) Send(ctx context.Context, m notification.Message) error {
	msg := mail.NewMsg()
	if err := msg.From(s.c.From); err != nil {
		return fmt.Errorf("from %q: %w", s.c.From, err)
	}
	if err := msg.To(m.Address); err != nil {
		return fmt.Errorf("to %q: %w", m.Address, err)
	}
	msg.Subject(m.Subject)
	msg.SetMessageIDWithValue(m.ID + "@" + s.c.Domain)
	msg.SetBodyString(mail.TypeTextPlain, m.Text)
	if m.HTML != "" {
		msg.AddAlternativeString(mail.TypeTextHTML, m.HTML)
	}
	client, err := mail.NewClient(s.c.Host, s.opts...)
	if err != nil {
		return fmt.Errorf("smtp client: %w", err)
	}
	if err := client.DialAndSendWithContext(ctx, msg); err != nil {
		return fmt.Errorf("smtp %s:%d: %w", s.c.Host, s.c.Port, err)
	}
	return nil
}
