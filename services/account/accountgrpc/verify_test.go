package accountgrpc_test

import (
	"fmt"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/fieldmaskpb"

	accountv1 "github.com/waybill/waybill/gen/waybill/account/v1"
	"github.com/waybill/waybill/kit/grpctest"
)

const (
	email = accountv1.ContactKind_CONTACT_KIND_EMAIL
	phone = accountv1.ContactKind_CONTACT_KIND_PHONE
)

func mask(paths ...string) *fieldmaskpb.FieldMask { return &fieldmaskpb.FieldMask{Paths: paths} }

// send asks for a code for contact k of account id, as the customer.
func (h *harness) send(t testing.TB, id string, k accountv1.ContactKind) (*accountv1.SendVerificationCodeResponse, error) {
	t.Helper()
	return h.as(id).SendVerificationCode(grpctest.Context(t), &accountv1.SendVerificationCodeRequest{AccountId: id, Kind: k})
}

// enter enters code for contact k of account id, as the customer.
func (h *harness) enter(t testing.TB, id string, k accountv1.ContactKind, code string) (*accountv1.Account, error) {
	t.Helper()
	resp, err := h.as(id).VerifyContact(grpctest.Context(t), &accountv1.VerifyContactRequest{AccountId: id, Kind: k, Code: code})
	return resp.GetAccount(), err
}

// verify sends a code to contact k of account id and enters it.
func (h *harness) verify(t testing.TB, id string, k accountv1.ContactKind) *accountv1.Account {
	t.Helper()
	var n int
	if err := h.pool.QueryRow(t.Context(), `SELECT (SELECT count(*) FROM outbox WHERE type = $1 AND key = $2)
		+ (SELECT count(*) FROM event_log WHERE type = $1 AND key = $2)`, "account.verification_code.issued", id).Scan(&n); err != nil {
		t.Fatal(err)
	}
	if _, err := h.send(t, id, k); err != nil {
		t.Fatalf("SendVerificationCode: %v", err)
	}
	code := h.issuedCode(t, id, n+1)
	a, err := h.enter(t, id, k, code.GetCode())
	if err != nil {
		t.Fatalf("VerifyContact: %v", err)
	}
	return a
}

// wrong returns a 6-digit code other than code.
func wrong(code string) string {
	if code == "000000" {
		return "000001"
	}
	return "000000"
}

// TestVerifyEmailByCode: the code reaches the event stream (for the notification service
// to deliver) with the destination and the customer's locale, the response and the table
// never hold it, and entering it verifies the email and emits account.contact.verified.
func TestVerifyEmailByCode(t *testing.T) {
	t.Parallel()
	h := start(t)
	id := newCustomer()
	h.signUp(t, id)
	sent, err := h.send(t, id, email)
	if err != nil {
		t.Fatal(err)
	}
	if sent.GetMaskedDestination() != id[:1]+"***@example.com" || sent.GetExpireTime().AsTime().Sub(h.clock.now()) > 10*time.Minute {
		t.Fatalf("response %v", sent)
	}
	code := h.issuedCode(t, id, 1)
	if len(code.GetCode()) != 6 || code.GetDestination() != id+"@example.com" || code.GetLocale() != "de-DE" ||
		code.GetDisplayName() != "Ada Traveller" || code.GetKind() != email || code.GetCodeId() == "" {
		t.Fatalf("issued event %v", code)
	}
	var plain int
	if err := h.pool.QueryRow(t.Context(), `SELECT count(*) FROM verification_code WHERE position(convert_to($1, 'UTF8') in code_hash) > 0
		OR destination LIKE '%' || $1 || '%'`, code.GetCode()).Scan(&plain); err != nil {
		t.Fatal(err)
	}
	if plain != 0 {
		t.Fatal("the plain code is stored")
	}
	a, err := h.enter(t, id, email, code.GetCode())
	if err != nil {
		t.Fatal(err)
	}
	if a.GetEmail().GetState() != accountv1.VerificationState_VERIFICATION_STATE_VERIFIED || a.GetEmail().GetVerifyTime() == nil ||
		a.GetPhone().GetState() != accountv1.VerificationState_VERIFICATION_STATE_UNVERIFIED {
		t.Fatalf("after verification %v", a)
	}
	evs := h.events(t, lastOf("account.contact.verified", id))
	v := find(evs, "account.contact.verified", id)[0].payload.(*accountv1.ContactVerifiedEvent)
	if v.GetKind() != email || v.GetAddress() != id+"@example.com" || v.GetAccount().GetEmail().GetState() != accountv1.VerificationState_VERIFICATION_STATE_VERIFIED {
		t.Fatalf("verified event %v", v)
	}
	// A verified contact gets no more codes.
	_, err = h.send(t, id, email)
	grpctest.WantReason(t, err, codes.FailedPrecondition, "CONTACT_ALREADY_VERIFIED")
}

// TestCodeExpired: a code entered after its expiry is refused, even when right.
func TestCodeExpired(t *testing.T) {
	t.Parallel()
	h := start(t)
	id := newCustomer()
	h.signUp(t, id)
	if _, err := h.send(t, id, phone); err != nil {
		t.Fatal(err)
	}
	code := h.issuedCode(t, id, 1)
	h.clock.advance(10*time.Minute + time.Second)
	_, err := h.enter(t, id, phone, code.GetCode())
	grpctest.WantReason(t, err, codes.FailedPrecondition, "VERIFICATION_CODE_EXPIRED")
	if a := h.get(t, id); a.GetPhone().GetState() != accountv1.VerificationState_VERIFICATION_STATE_UNVERIFIED {
		t.Fatalf("phone %v verified by an expired code", a.GetPhone())
	}
}

// TestCodeReused: a code verifies once; entering it again is refused, unless it is a
// retry with the first call's request id, which returns the account again.
func TestCodeReused(t *testing.T) {
	t.Parallel()
	h := start(t)
	id := newCustomer()
	h.signUp(t, id)
	if _, err := h.send(t, id, email); err != nil {
		t.Fatal(err)
	}
	code := h.issuedCode(t, id, 1).GetCode()
	req := &accountv1.VerifyContactRequest{AccountId: id, Kind: email, Code: code, RequestId: "verify-1"}
	first, err := h.as(id).VerifyContact(grpctest.Context(t), req)
	if err != nil {
		t.Fatal(err)
	}
	retry, err := h.as(id).VerifyContact(grpctest.Context(t), req)
	if err != nil || retry.GetAccount().GetVersion() != first.GetAccount().GetVersion() {
		t.Fatalf("retry with the request id = %v, %v; want the first result", retry, err)
	}
	_, err = h.enter(t, id, email, code)
	grpctest.WantReason(t, err, codes.FailedPrecondition, "VERIFICATION_CODE_USED")
	// The same request id with another code is another call.
	req.Code = wrong(code)
	_, err = h.as(id).VerifyContact(grpctest.Context(t), req)
	grpctest.WantReason(t, err, codes.InvalidArgument, "REQUEST_ID_REUSED")
}

// TestCodeWrong: a wrong code is refused with the attempts left; the right one then
// still verifies. A code of the old address is void once the address changes.
func TestCodeWrong(t *testing.T) {
	t.Parallel()
	h := start(t)
	id := newCustomer()
	h.signUp(t, id)
	if _, err := h.send(t, id, email); err != nil {
		t.Fatal(err)
	}
	code := h.issuedCode(t, id, 1).GetCode()
	_, err := h.enter(t, id, email, wrong(code))
	info := grpctest.WantReason(t, err, codes.FailedPrecondition, "VERIFICATION_CODE_INCORRECT")
	if info.GetMetadata()["attempts_left"] != "4" {
		t.Fatalf("metadata %v, want attempts_left 4", info.GetMetadata())
	}
	if _, err := h.enter(t, id, email, code); err != nil {
		t.Fatalf("the right code after a wrong one: %v", err)
	}

	// A code sent to the phone is void once the phone number changes.
	if _, err := h.send(t, id, phone); err != nil {
		t.Fatal(err)
	}
	pcode := h.issuedCode(t, id, 2).GetCode()
	if _, err := h.update(t, &accountv1.Account{Id: id, Phone: &accountv1.Contact{Address: "+14155550123"}}, "phone"); err != nil {
		t.Fatal(err)
	}
	_, err = h.enter(t, id, phone, pcode)
	grpctest.WantReason(t, err, codes.FailedPrecondition, "NO_VERIFICATION_CODE")
}

// TestBruteForceRefused: 20 guesses in parallel get at most 5 answers that compare the
// code; every other one, and then even the right code, is refused as exhausted. New codes
// are rate-limited: not within 30 s of the last one, and at most 5 an hour.
func TestBruteForceRefused(t *testing.T) {
	t.Parallel()
	h := start(t)
	id := newCustomer()
	h.signUp(t, id)
	if _, err := h.send(t, id, email); err != nil {
		t.Fatal(err)
	}
	code := h.issuedCode(t, id, 1).GetCode()
	var (
		wg                   sync.WaitGroup
		mu                   sync.Mutex
		incorrect, exhausted int
	)
	for i := range 20 {
		wg.Go(func() {
			guess := fmt.Sprintf("%06d", 100000+i)
			if guess == code {
				guess = wrong(code)
			}
			_, err := h.enter(t, id, email, guess)
			mu.Lock()
			defer mu.Unlock()
			switch grpctest.Reason(err) {
			case "VERIFICATION_CODE_INCORRECT":
				incorrect++
			case "VERIFICATION_ATTEMPTS_EXHAUSTED":
				exhausted++
				if status.Code(err) != codes.ResourceExhausted {
					t.Errorf("exhausted with code %v", status.Code(err))
				}
			default:
				t.Errorf("guess %s: %v", guess, err)
			}
		})
	}
	wg.Wait()
	if incorrect != 5 || exhausted != 15 {
		t.Fatalf("%d incorrect, %d exhausted; want 5 and 15", incorrect, exhausted)
	}
	_, err := h.enter(t, id, email, code)
	grpctest.WantReason(t, err, codes.ResourceExhausted, "VERIFICATION_ATTEMPTS_EXHAUSTED")

	// New codes: not within 30 s, at most 5 an hour.
	_, err = h.send(t, id, email)
	info := grpctest.WantReason(t, err, codes.ResourceExhausted, "VERIFICATION_CODE_RATE_LIMITED")
	if info.GetMetadata()["retry_after_seconds"] == "" {
		t.Fatalf("metadata %v lacks retry_after_seconds", info.GetMetadata())
	}
	for range 4 {
		h.clock.advance(31 * time.Second)
		if _, err := h.send(t, id, email); err != nil {
			t.Fatalf("a code 31 s after the last: %v", err)
		}
	}
	h.clock.advance(31 * time.Second)
	_, err = h.send(t, id, email)
	grpctest.WantReason(t, err, codes.ResourceExhausted, "VERIFICATION_CODE_RATE_LIMITED")
	h.clock.advance(time.Hour)
	if _, err := h.send(t, id, email); err != nil {
		t.Fatalf("a code an hour later: %v", err)
	}
	// The newest code works, the earlier ones do not.
	codes6 := h.issuedCode(t, id, 6)
	old := h.issuedCode(t, id, 5)
	if old.GetCode() != codes6.GetCode() {
		_, err = h.enter(t, id, email, old.GetCode())
		grpctest.WantReason(t, err, codes.FailedPrecondition, "VERIFICATION_CODE_INCORRECT")
	}
	if _, err := h.enter(t, id, email, codes6.GetCode()); err != nil {
		t.Fatalf("the newest code: %v", err)
	}
}
