package paymentgrpc_test

import (
	"context"
	"encoding/hex"
	"fmt"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"testing"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	paymentv1 "github.com/waybill/waybill/gen/waybill/payment/v1"
	"github.com/waybill/waybill/kit/auth"
	"github.com/waybill/waybill/kit/grpctest"
)

func cardRequest(customer, number, cvc, requestID string) *paymentv1.CreatePaymentMethodRequest {
	return &paymentv1.CreatePaymentMethodRequest{CustomerId: customer, RequestId: requestID,
		Source: &paymentv1.CreatePaymentMethodRequest_Card{Card: &paymentv1.CardInput{
			Number: number, ExpiryMonth: 12, ExpiryYear: 2040, Cvc: cvc, CardholderName: "Alice Doe"}}}
}

func TestPaymentMethodLifecycle(t *testing.T) {
	t.Parallel()
	e := start(t)
	ctx := grpctest.Context(t)
	created, err := e.as(alice).CreatePaymentMethod(ctx, cardRequest(alice.Subject, "5555555555554444", "123", "pm-1"))
	if err != nil {
		t.Fatal(err)
	}
	m := created.GetPaymentMethod()
	if m.GetBrand() != paymentv1.CardBrand_CARD_BRAND_MASTERCARD || m.GetLast4() != "4444" || m.GetExpiryYear() != 2040 ||
		m.GetStatus() != paymentv1.PaymentMethodStatus_PAYMENT_METHOD_STATUS_ACTIVE || m.GetProcessor() != "simulator" {
		t.Fatalf("created %v", m)
	}
	if tok := m.GetProcessorToken(); !strings.HasPrefix(tok, "****") || len(tok) != 8 {
		t.Fatalf("a customer was shown the processor token %q, want it masked", tok)
	}
	// The same request id returns the same method and never tokenizes twice.
	again, err := e.as(alice).CreatePaymentMethod(ctx, cardRequest(alice.Subject, "5555555555554444", "123", "pm-1"))
	if err != nil || !proto.Equal(again, created) || e.sim.Calls("tokenize") != 1 {
		t.Fatalf("retry: %v, %v, tokenize calls %d", again, err, e.sim.Calls("tokenize"))
	}
	// The same key with another card is rejected.
	_, err = e.as(alice).CreatePaymentMethod(ctx, cardRequest(alice.Subject, "4242424242424242", "123", "pm-1"))
	grpctest.WantField(t, err, "request_id")
	grpctest.WantReason(t, err, codes.InvalidArgument, "REQUEST_ID_REUSED")
	// Customers add methods only for themselves.
	_, err = e.as(bob).CreatePaymentMethod(ctx, cardRequest(alice.Subject, "4242424242424242", "123", ""))
	grpctest.WantReason(t, err, codes.PermissionDenied, "FIELD_NOT_SETTABLE")
	_, err = e.as(auth.Identity{}).CreatePaymentMethod(ctx, cardRequest(alice.Subject, "4242424242424242", "123", ""))
	grpctest.WantCode(t, err, codes.Unauthenticated)

	got, err := e.as(alice).GetPaymentMethod(ctx, &paymentv1.GetPaymentMethodRequest{PaymentMethodId: m.GetId()})
	if err != nil || !proto.Equal(got.GetPaymentMethod(), m) {
		t.Fatalf("get: %v %v", got, err)
	}
	_, err = e.as(bob).GetPaymentMethod(ctx, &paymentv1.GetPaymentMethodRequest{PaymentMethodId: m.GetId()})
	grpctest.WantCode(t, err, codes.NotFound)
	svcView, err := e.svc().GetPaymentMethod(ctx, &paymentv1.GetPaymentMethodRequest{PaymentMethodId: m.GetId()})
	if err != nil || svcView.GetPaymentMethod().GetProcessorToken() != m.GetProcessorToken() {
		t.Fatalf("service view: %v %v; want the token masked as for the customer", svcView, err)
	}

	tokenMethod := e.method("tok_sim_amex")
	if tokenMethod.GetBrand() != paymentv1.CardBrand_CARD_BRAND_AMEX || tokenMethod.GetLast4() != "0005" {
		t.Fatalf("token method %v", tokenMethod)
	}
	_, err = e.svc().CreatePaymentMethod(ctx, &paymentv1.CreatePaymentMethodRequest{CustomerId: alice.Subject,
		Source: &paymentv1.CreatePaymentMethodRequest_ProcessorToken{ProcessorToken: "tok_unknown"}})
	grpctest.WantField(t, err, "processor_token")

	list, err := e.as(alice).ListPaymentMethods(ctx, &paymentv1.ListPaymentMethodsRequest{PageSize: 1})
	if err != nil || len(list.GetPaymentMethods()) != 1 || list.GetNextPageToken() == "" {
		t.Fatalf("list page 1: %v %v", list, err)
	}
	page2, err := e.as(alice).ListPaymentMethods(ctx, &paymentv1.ListPaymentMethodsRequest{PageSize: 1, PageToken: list.GetNextPageToken()})
	if err != nil || len(page2.GetPaymentMethods()) != 1 || page2.GetNextPageToken() != "" ||
		page2.GetPaymentMethods()[0].GetId() == list.GetPaymentMethods()[0].GetId() {
		t.Fatalf("list page 2: %v %v", page2, err)
	}
	_, err = e.as(alice).ListPaymentMethods(ctx, &paymentv1.ListPaymentMethodsRequest{PageToken: list.GetNextPageToken(),
		Statuses: []paymentv1.PaymentMethodStatus{paymentv1.PaymentMethodStatus_PAYMENT_METHOD_STATUS_ACTIVE}})
	grpctest.WantField(t, err, "page_token")
	_, err = e.as(bob).ListPaymentMethods(ctx, &paymentv1.ListPaymentMethodsRequest{CustomerId: alice.Subject})
	grpctest.WantCode(t, err, codes.PermissionDenied)
	if bobs, err := e.as(bob).ListPaymentMethods(ctx, &paymentv1.ListPaymentMethodsRequest{}); err != nil || len(bobs.GetPaymentMethods()) != 0 {
		t.Fatalf("bob sees %v %v", bobs, err)
	}

	_, err = e.as(bob).DisablePaymentMethod(ctx, &paymentv1.DisablePaymentMethodRequest{PaymentMethodId: m.GetId()})
	grpctest.WantCode(t, err, codes.NotFound)
	disabled, err := e.as(alice).DisablePaymentMethod(ctx, &paymentv1.DisablePaymentMethodRequest{PaymentMethodId: m.GetId()})
	if err != nil || disabled.GetPaymentMethod().GetStatus() != paymentv1.PaymentMethodStatus_PAYMENT_METHOD_STATUS_DISABLED ||
		disabled.GetPaymentMethod().GetDisableTime() == nil || e.sim.Calls("delete_token") != 1 {
		t.Fatalf("disable: %v %v", disabled, err)
	}
	again2, err := e.as(alice).DisablePaymentMethod(ctx, &paymentv1.DisablePaymentMethodRequest{PaymentMethodId: m.GetId()})
	if err != nil || !proto.Equal(again2, disabled) {
		t.Fatalf("disable again: %v %v", again2, err)
	}
	// A disabled method cannot be authorized on.
	_, err = e.svc().AuthorizePayment(ctx, &paymentv1.AuthorizePaymentRequest{PaymentMethodId: m.GetId(), Amount: eur(100), RequestId: "a-disabled"})
	grpctest.WantReason(t, err, codes.FailedPrecondition, "PAYMENT_METHOD_DISABLED")
}

// Card numbers reach the processor adapter and nothing else: not the database (a dump of every
// table of the schema, and pg_dump's output when it is installed), not the logs, not the
// errors.
func TestCardNumberIsNeverStoredOrLogged(t *testing.T) {
	t.Parallel()
	e := start(t)
	ctx := grpctest.Context(t)
	const pan = "4000056655665556" // Luhn-valid, behaves like any successful card
	if _, err := e.as(alice).CreatePaymentMethod(ctx, cardRequest(alice.Subject, pan, "123", "pan-key")); err != nil {
		t.Fatal(err)
	}
	if _, err := e.as(alice).CreatePaymentMethod(ctx, cardRequest(alice.Subject, pan, "123", "pan-key")); err != nil {
		t.Fatal(err)
	}
	// A rejected card must not be echoed either.
	_, err := e.as(alice).CreatePaymentMethod(ctx, cardRequest(alice.Subject, pan, "12", "pan-key-2"))
	grpctest.WantField(t, err, "card.cvc")
	if st := status.Convert(err); strings.Contains(st.String(), pan) {
		t.Fatalf("bad cvc: %v", st)
	}
	_, err = e.as(alice).CreatePaymentMethod(ctx, cardRequest(alice.Subject, pan[:15]+"7", "123", ""))
	grpctest.WantField(t, err, "card.number")
	if st := status.Convert(err); strings.Contains(st.String(), pan[:15]) {
		t.Fatalf("bad number: %v", st)
	}
	methods, err := e.svc().ListPaymentMethods(ctx, &paymentv1.ListPaymentMethodsRequest{CustomerId: alice.Subject})
	if err != nil || len(methods.GetPaymentMethods()) != 1 {
		t.Fatalf("methods %v %v", methods, err)
	}
	m := methods.GetPaymentMethods()[0]
	if _, err := e.svc().AuthorizePayment(ctx, &paymentv1.AuthorizePaymentRequest{PaymentMethodId: m.GetId(), Amount: eur(500), RequestId: "pan-auth"}); err != nil {
		t.Fatal(err)
	}

	dump := e.dumpSchema()
	for name, needle := range map[string]string{"card number": pan, "card number (hex)": hex.EncodeToString([]byte(pan)), "last 12 digits": pan[4:]} {
		if strings.Contains(dump, needle) {
			t.Errorf("the database holds the %s", name)
		}
		if strings.Contains(e.logs.String(), needle) {
			t.Errorf("the logs hold the %s", name)
		}
	}
	if !strings.Contains(dump, m.GetId()) || !strings.Contains(dump, "5556") {
		t.Fatal("the dump misses what it should hold: it is not dumping the data")
	}
	if e.logs.String() == "" {
		t.Fatal("nothing was logged: the log capture is not working")
	}
}

// dumpSchema returns every row of every table of the payment schema as text (bytea columns as
// raw bytes and as hex), and pg_dump's data-only output when pg_dump is installed.
func (e *env) dumpSchema() string {
	e.t.Helper()
	text := e.tablesText()
	if path, err := exec.LookPath("pg_dump"); err == nil {
		cfg := e.pool.Config().ConnConfig
		cmd := exec.Command(path, "--data-only", "--schema=payment", "-h", cfg.Host, "-p", strconv.Itoa(int(cfg.Port)), "-U", cfg.User, cfg.Database)
		cmd.Env = append(cmd.Environ(), "PGPASSWORD="+cfg.Password)
		if out, err := cmd.Output(); err == nil {
			text += string(out)
		} else {
			e.t.Logf("pg_dump: %v", err)
		}
	}
	return text
}

// tablesText returns every row of every table of the payment schema but skip as text, in a
// stable order (bytea columns as raw bytes and as hex).
func (e *env) tablesText(skip ...string) string {
	e.t.Helper()
	ctx := context.Background()
	rows, err := e.pool.Query(ctx, `SELECT table_name FROM information_schema.tables WHERE table_schema = 'payment' ORDER BY 1`)
	if err != nil {
		e.t.Fatal(err)
	}
	var tables []string
	for rows.Next() {
		var name string
		if err := rows.Scan(&name); err != nil {
			e.t.Fatal(err)
		}
		tables = append(tables, name)
	}
	rows.Close()
	var b strings.Builder
	for _, table := range tables {
		if slices.Contains(skip, table) {
			continue
		}
		rows, err := e.pool.Query(ctx, `SELECT * FROM payment.`+table+` t ORDER BY t::text`)
		if err != nil {
			e.t.Fatal(err)
		}
		for rows.Next() {
			vals, err := rows.Values()
			if err != nil {
				e.t.Fatal(err)
			}
			for _, v := range vals {
				if raw, ok := v.([]byte); ok {
					// bytea as its raw bytes and as hex, so a number inside a stored response shows.
					b.Write(raw)
					b.WriteString(" " + hex.EncodeToString(raw) + " ")
					continue
				}
				fmt.Fprint(&b, v, " ")
			}
			b.WriteString("\n")
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			e.t.Fatal(err)
		}
	}
	return b.String()
}
