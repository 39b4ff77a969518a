package notificationapp_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http/httptest"
	"os"
	"os/exec"
	"os/signal"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/waybill/waybill/kit/grpctest"
	"github.com/waybill/waybill/kit/pgtest"
	"github.com/waybill/waybill/kit/pgxutil"
	"github.com/waybill/waybill/kit/proctest"
	"github.com/waybill/waybill/kit/serve"
	"github.com/waybill/waybill/services/account/accountapp"
	"github.com/waybill/waybill/services/booking/bookingapp"
	"github.com/waybill/waybill/services/fare/fareapp"
	"github.com/waybill/waybill/services/notification/notificationapp"
	"github.com/waybill/waybill/services/notification/notificationpg"
	"github.com/waybill/waybill/services/notification/smssender"
)

// childEnv carries the child process's arguments (JSON): set, the test binary runs the
// notification service with kit/serve, as `waybill serve notification` does.
const childEnv = "WAYBILL_NOTIFICATION_TEST_CHILD"

func runChild() int {
	var args []string
	if err := json.Unmarshal([]byte(os.Getenv(childEnv)), &args); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	if err := serve.Run(ctx, notificationapp.Spec(), args, func(string) string { return "" }, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	return 0
}

// startChild starts the test binary as the notification process with args.
func startChild(t *testing.T, args []string) *proctest.Process {
	t.Helper()
	b, _ := json.Marshal(args)
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), childEnv+"="+string(b))
	return proctest.Start(t, cmd)
}

// TestKilledMidSend: the notification process (a real OS process) is killed with SIGKILL
// while the SMTP server holds its emails in DATA; the server then accepts them although
// the process never learned it. After a restart the messages whose lease lapsed are sent
// again: each (event, recipient, channel) still has exactly one queued message, all end
// SENT, the SMS gateway delivers each SMS once (idempotency key), and every email the
// server received twice carries the same Message-ID (the message id), so it is the same
// message for any downstream deduplication (SMTP has no idempotency key: a crash between
// the server's acceptance and the queue's update can only be made recognizable, not
// impossible).
func TestKilledMidSend(t *testing.T) {
	smtpSrv := newSMTPServer(t)
	sms := smssender.NewSimulator()
	gw := httptest.NewServer(sms)
	t.Cleanup(gw.Close)
	fare := grpctest.Start(t, fareapp.Spec())
	bc := bookingapp.DefaultConfig()
	bc.FareAddr, bc.SweepInterval = fare.Addr, 0
	bs := bookingapp.Spec()
	bs.Register = func(ctx context.Context, d serve.Deps) error { return bookingapp.Register(ctx, d, bc) }
	booking := grpctest.Start(t, bs)
	account := grpctest.Start(t, accountapp.Spec())
	url := pgtest.NewURL(t, pgtest.Schemas{notificationapp.Name: notificationpg.Migrations})
	pool, err := pgxutil.NewPool(url, pgxutil.PoolConfig{Schema: notificationapp.Name})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	grpcAddr := proctest.FreeAddr(t)
	args := []string{"--database-url", url, "--grpc-addr", grpcAddr, "--http-addr", "", "--auth-secret", grpctest.Secret,
		"--log-format", "text", "--account-addr", account.Addr, "--booking-addr", booking.Addr, "--payment-addr", "",
		"--billing-addr", "", "--fare-addr", "", "--analytics-addr", "", "--trip-addr", "", "--smtp-addr", smtpSrv.addr, "--sms", gw.URL,
		"--notification-poll", "20ms", "--notification-lease", "2s", "--notification-retry-base", "100ms",
		"--hold-reminder-lead", "0s"}
	proc := startChild(t, args)

	m := &mesh{smtp: smtpSrv, sms: sms, fare: fare, booking: booking, account: account,
		notification: &grpctest.Server{Addr: grpcAddr, Pool: pool}}
	m.fareOps, m.inventory = fareClient(fare), inventoryClient(booking)
	ada := m.signUp(t, "ada@example.com", "+4915112345678", nil)
	prop := m.property(t)

	release := smtpSrv.hold() // DATA now waits until released
	r := ada.hold(t, prop, 7)
	ada.confirm(t, r.GetId())
	grpctest.Eventually(t, 15*time.Second, "both emails in DATA at the server", func() bool { return smtpSrv.holding() == 2 })
	proc.Kill(t)
	release() // the server accepts both; the killed process never recorded it
	grpctest.Eventually(t, 5*time.Second, "the server accepted the held emails", func() bool { return len(smtpSrv.messages()) == 3 })

	startChild(t, args)
	want := map[string][]string{}
	for _, e := range []string{"booking.reservation.held", "booking.reservation.confirmed", "account.verification_code.issued"} {
		want[e+"/email"], want[e+"/sms"] = []string{"sent"}, []string{"sent"}
	}
	grpctest.Eventually(t, 30*time.Second, "every message sent after the restart", func() bool {
		return fmt.Sprint(queued(t, pool, ada.id.Subject)) == fmt.Sprint(want)
	})
	received := assertOnePerMessage(t, pool, smtpSrv, sms, ada.id.Subject)
	// The two emails the kill interrupted were sent again by the restarted process, as
	// the same messages.
	twice := 0
	for _, n := range received {
		if n == 2 {
			twice++
		}
	}
	if twice != 2 || len(received) != 3 {
		t.Errorf("emails received per message id: %v; want the code's once and the two interrupted ones twice", received)
	}
}

// assertOnePerMessage checks every email received for a queued message carries its id as
// Message-ID, that each queued email was received, and each SMS delivered exactly once.
func assertOnePerMessage(t *testing.T, pool *pgxpool.Pool, smtpSrv *smtpServer, sms *smssender.Simulator, customerID string) map[string]int {
	t.Helper()
	rows, err := pool.Query(context.Background(), `SELECT id::text, channel FROM messages WHERE customer_id = $1`, customerID)
	if err != nil {
		t.Fatal(err)
	}
	queuedIDs := map[string]string{}
	for rows.Next() {
		var id, ch string
		if err := rows.Scan(&id, &ch); err != nil {
			t.Fatal(err)
		}
		queuedIDs[id] = ch
	}
	received := map[string]int{}
	for _, r := range smtpSrv.messages() {
		if len(r.MessageID) > 2 {
			id, _, _ := bytes.Cut([]byte(r.MessageID[1:len(r.MessageID)-1]), []byte("@"))
			received[string(id)]++
		}
	}
	delivered := map[string]int{}
	for _, d := range sms.Delivered() {
		delivered[d.ID]++
	}
	for id, ch := range queuedIDs {
		switch ch {
		case "email":
			if received[id] == 0 {
				t.Errorf("email %s never received", id)
			}
		case "sms":
			if delivered[id] != 1 {
				t.Errorf("SMS %s delivered %d times, want 1", id, delivered[id])
			}
		}
	}
	for id := range received {
		if queuedIDs[id] == "" {
			t.Errorf("an email with Message-ID %s matches no queued message", id)
		}
	}
	return received
}
