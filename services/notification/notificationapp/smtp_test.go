package notificationapp_test

import (
	"bytes"
	"io"
	"net"
	"net/mail"
	"regexp"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-smtp"
)

// received is one email the test SMTP server accepted.
type received struct {
	To, Subject, MessageID string
	Raw                    string
	At                     time.Time
}

// smtpServer is a real SMTP server on loopback (github.com/emersion/go-smtp) that records
// what it accepts, and refuses (451) while refusing is set.
type smtpServer struct {
	addr string
	mu   sync.Mutex
	got  []received
	// refuse is how many more DATA commands to refuse; -1 refuses all.
	refuse   int
	refusals int
	// gate, when set, holds DATA until closed; waiting counts the held commands.
	gate    chan struct{}
	waiting int
}

func newSMTPServer(t testing.TB) *smtpServer {
	t.Helper()
	s := &smtpServer{}
	srv := smtp.NewServer(smtp.BackendFunc(func(*smtp.Conn) (smtp.Session, error) { return &smtpSession{s: s}, nil }))
	srv.Domain = "localhost"
	srv.AllowInsecureAuth = true
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s.addr = lis.Addr().String()
	go func() { _ = srv.Serve(lis) }()
	t.Cleanup(func() { _ = srv.Close() })
	return s
}

// setRefuse makes the server refuse the next n messages (-1: all, until set again).
func (s *smtpServer) setRefuse(n int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.refuse = n
}

func (s *smtpServer) messages() []received {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]received(nil), s.got...)
}

func (s *smtpServer) refused() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.refusals
}

type smtpSession struct {
	s  *smtpServer
	to string
}

func (x *smtpSession) Reset()                                    {}
func (x *smtpSession) Logout() error                             { return nil }
func (x *smtpSession) Mail(string, *smtp.MailOptions) error      { return nil }
func (x *smtpSession) Rcpt(to string, _ *smtp.RcptOptions) error { x.to = to; return nil }
func (x *smtpSession) Data(r io.Reader) error {
	raw, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	x.s.mu.Lock()
	if gate := x.s.gate; gate != nil {
		x.s.waiting++
		x.s.mu.Unlock()
		<-gate
		x.s.mu.Lock()
		x.s.waiting--
	}
	defer x.s.mu.Unlock()
	if x.s.refuse != 0 {
		if x.s.refuse > 0 {
			x.s.refuse--
		}
		x.s.refusals++
		return &smtp.SMTPError{Code: 451, EnhancedCode: smtp.EnhancedCode{4, 3, 0}, Message: "try again later"}
	}
	m, err := mail.ReadMessage(bytes.NewReader(raw))
	if err != nil {
		return err
	}
	x.s.got = append(x.s.got, received{To: x.to, Subject: m.Header.Get("Subject"), MessageID: m.Header.Get("Message-Id"), Raw: string(raw), At: time.Now()})
	return nil
}

var sixDigits = regexp.MustCompile(`\b\d{6}\b`)

// hold makes DATA wait until the returned release is called; holding reports how many
// DATA commands wait.
func (s *smtpServer) hold() (release func()) {
	s.mu.Lock()
	defer s.mu.Unlock()
	ch := make(chan struct{})
	s.gate = ch
	return func() {
		s.mu.Lock()
		s.gate = nil
		s.mu.Unlock()
		close(ch)
	}
}

func (s *smtpServer) holding() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.waiting
}
