package grpctest

import (
	"testing"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/waybill/waybill/kit/auth"
)

// Secret is the token secret of every server the harness starts and of Signer.
const Secret = "grpctest-secret-0123456789"

// Signer returns a signer for Secret: the one the harness's servers verify tokens with,
// for signing a token by hand or starting a test double that the services call.
func Signer() *auth.Signer {
	s, err := auth.NewSigner(Secret)
	if err != nil {
		panic(err) // Secret is long enough; only a change to auth's rules gets here.
	}
	return s
}

// Dial returns a new connection to target that calls with a token for id (none for the
// zero Identity) and the extra options; it is closed when the test ends. Use it for a
// server the harness did not start, or for a connection of the test's own (with a
// CallCounter's DialOption, say).
func Dial(t testing.TB, target string, id auth.Identity, opts ...grpc.DialOption) *grpc.ClientConn {
	t.Helper()
	c, err := newClient(target, id, opts...)
	if err != nil {
		t.Fatalf("grpctest: dial %s: %v", target, err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func newClient(target string, id auth.Identity, opts ...grpc.DialOption) (*grpc.ClientConn, error) {
	opts = append([]grpc.DialOption{grpc.WithTransportCredentials(insecure.NewCredentials())}, opts...)
	if id != (auth.Identity{}) {
		opts = append(opts, Signer().DialOption(id))
	}
	return grpc.NewClient(target, opts...)
}
