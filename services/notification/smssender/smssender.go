// Package smssender is the notification service's SMS channel, behind one interface:
// an HTTP adapter that posts each message as JSON to a configured gateway URL (with the
// message id as Idempotency-Key, so a gateway that honours it delivers a message sent
// again after a crash once), and a built-in simulator of such a gateway (Simulator, an
// http.Handler) whose numbers succeed, fail or time out on purpose, like the payment
// service's processor simulator.
package smssender

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/waybill/waybill/services/notification/notification"
)

// Request is the JSON body the HTTP adapter posts.
type Request struct {
	// ID is the message id (also sent as the Idempotency-Key header).
	ID string `json:"id"`
	// To is the E.164 number.
	To string `json:"to"`
	// Body is the text.
	Body string `json:"body"`
}

// HTTP posts messages to a gateway.
type HTTP struct {
	url    string
	client *http.Client
}

// NewHTTP returns an adapter posting to url; a 2xx answer is acceptance.
func NewHTTP(url string, timeout time.Duration) *HTTP {
	if timeout <= 0 {
		timeout = 10 * time.Second
	}
	return &HTTP{url: url, client: &http.Client{Timeout: timeout}}
}

// Send implements notification.Sender.
func (h *HTTP) Send(ctx context.Context, m notification.Message) error {
	body, err := json.Marshal(Request{ID: m.ID, To: m.Address, Body: m.Text})
	if err != nil {
		return err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, h.url, bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Idempotency-Key", m.ID)
	resp, err := h.client.Do(req)
	if err != nil {
		return fmt.Errorf("sms gateway: %w", err)
	}
	defer resp.Body.Close()
	msg, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("sms gateway answered %s: %s", resp.Status, strings.TrimSpace(string(msg)))
	}
	return nil
}

// Simulator numbers: a number ending in FailSuffix is refused (HTTP 502), one ending in
// SlowSuffix answers only after the client gave up; every other number is delivered.
const (
	FailSuffix = "0000"
	SlowSuffix = "0999"
)

// Simulator is an SMS gateway in memory: it accepts the adapter's requests, delivers each
// Idempotency-Key once, and records what it delivered.
type Simulator struct {
	mu        sync.Mutex
	delivered map[string]Request
	order     []string
	// Slow is how long a SlowSuffix number takes; 0 means a minute.
	Slow time.Duration
}

// NewSimulator returns an empty simulator.
func NewSimulator() *Simulator { return &Simulator{delivered: map[string]Request{}} }

// ServeHTTP implements http.Handler.
func (s *Simulator) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	var req Request
	if r.Method != http.MethodPost || json.NewDecoder(r.Body).Decode(&req) != nil || req.To == "" {
		http.Error(w, "want POST of {id, to, body}", http.StatusBadRequest)
		return
	}
	key := r.Header.Get("Idempotency-Key")
	if key == "" {
		key = req.ID
	}
	switch {
	case strings.HasSuffix(req.To, FailSuffix):
		http.Error(w, "carrier refused the number", http.StatusBadGateway)
		return
	case strings.HasSuffix(req.To, SlowSuffix):
		slow := s.Slow
		if slow == 0 {
			slow = time.Minute
		}
		select {
		case <-time.After(slow):
		case <-r.Context().Done():
			return
		}
	}
	s.mu.Lock()
	if _, ok := s.delivered[key]; !ok {
		s.delivered[key] = req
		s.order = append(s.order, key)
	}
	s.mu.Unlock()
	w.WriteHeader(http.StatusAccepted)
}

// Send implements notification.Sender in process, as the HTTP adapter talking to the
// simulator would, for running without a gateway.
func (s *Simulator) Send(ctx context.Context, m notification.Message) error {
	switch {
	case strings.HasSuffix(m.Address, FailSuffix):
		return fmt.Errorf("sms simulator: carrier refused %s", m.Address)
	case strings.HasSuffix(m.Address, SlowSuffix):
		<-ctx.Done()
		return fmt.Errorf("sms simulator: %w", ctx.Err())
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.delivered[m.ID]; !ok {
		s.delivered[m.ID] = Request{ID: m.ID, To: m.Address, Body: m.Text}
		s.order = append(s.order, m.ID)
	}
	return nil
}

// Delivered returns the messages delivered, in order.
func (s *Simulator) Delivered() []Request {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]Request, len(s.order))
	for i, k := range s.order {
		out[i] = s.delivered[k]
	}
	return out
}
