package auth

import (
	"context"
	"errors"
	"strings"
	"sync/atomic"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
)

// The metadata key carrying "Bearer <token>".
const authorizationKey = "authorization"

// publicPrefixes are services any caller may use without a token.
var publicPrefixes = []string{"/grpc.health.v1.", "/grpc.reflection."}

// UnaryServerInterceptor verifies the call's bearer token and puts the identity in the
// context. A call without a token proceeds anonymously (handlers that need an identity
// answer UNAUTHENTICATED through Require); a call with a bad token is refused with
// UNAUTHENTICATED.
func (s *Signer) UnaryServerInterceptor() grpc.UnaryServerInterceptor {
	return func(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
		ctx, err := s.authenticate(ctx, info.FullMethod)
		if err != nil {
			return nil, err
		}
		return handler(ctx, req)
	}
}

// StreamServerInterceptor is UnaryServerInterceptor for streams.
func (s *Signer) StreamServerInterceptor() grpc.StreamServerInterceptor {
	return func(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, handler grpc.StreamHandler) error {
		ctx, err := s.authenticate(ss.Context(), info.FullMethod)
		if err != nil {
			return err
		}
		return handler(srv, &identityStream{ServerStream: ss, ctx: ctx})
	}
}

func (s *Signer) authenticate(ctx context.Context, method string) (context.Context, error) {
	for _, p := range publicPrefixes {
		if strings.HasPrefix(method, p) {
			return ctx, nil
		}
	}
	md, _ := metadata.FromIncomingContext(ctx)
	vals := md.Get(authorizationKey)
	if len(vals) == 0 {
		return ctx, nil
	}
	token, ok := BearerToken(vals[0])
	if !ok {
		return nil, status.Error(codes.Unauthenticated, "authorization must be \"Bearer <token>\"")
	}
	id, err := s.Verify(token)
	if err != nil {
		msg := ErrInvalidToken.Error()
		if errors.Is(err, ErrInvalidToken) {
			msg = err.Error() // the reason, in words written for the caller
		}
		return nil, status.Error(codes.Unauthenticated, msg)
	}
	return WithIdentity(ctx, id), nil
}

// BearerToken returns the token of an Authorization header "Bearer <token>"; the scheme
// name is case-insensitive (RFC 7235).
func BearerToken(header string) (string, bool) {
	scheme, token, ok := strings.Cut(header, " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return "", false
	}
	token = strings.TrimSpace(token)
	return token, token != ""
}

// Require returns the caller's identity, or UNAUTHENTICATED when the call carried none.
func Require(ctx context.Context) (Identity, error) {
	id, ok := FromContext(ctx)
	if !ok {
		return Identity{}, status.Error(codes.Unauthenticated, "this call needs a bearer token")
	}
	return id, nil
}

type identityStream struct {
	grpc.ServerStream
	ctx context.Context
}

func (s *identityStream) Context() context.Context { return s.ctx }

// DialOption returns a dial option that sends a token for id with every call on the
// connection, signed anew before it expires; services use it to call each other as
// RoleService.
func (s *Signer) DialOption(id Identity) grpc.DialOption {
	return grpc.WithPerRPCCredentials(&tokenSource{signer: s, id: id})
}

// The tokens a tokenSource sends are valid for tokenTTL, and each is sent for
// tokenReuse, so a token sent has at least four minutes left.
const (
	tokenTTL   = 5 * time.Minute
	tokenReuse = time.Minute
)

// tokenSource sends a token for id with every call, signing a fresh one every
// tokenReuse rather than on every call.
type tokenSource struct {
	signer *Signer
	id     Identity
	cur    atomic.Pointer[signedToken]
}

// signedToken is a tokenSource's current authorization header.
type signedToken struct {
	header  string    // "Bearer <token>"
	renewAt time.Time // when to sign the next one
}

func (t *tokenSource) GetRequestMetadata(context.Context, ...string) (map[string]string, error) {
	cur := t.cur.Load()
	if now := t.signer.now(); cur == nil || !now.Before(cur.renewAt) {
		// Concurrent calls may each sign one here; any of them is good.
		tok, err := t.signer.Sign(t.id, tokenTTL)
		if err != nil {
			return nil, err
		}
		cur = &signedToken{header: "Bearer " + tok, renewAt: now.Add(tokenReuse)}
		t.cur.Store(cur)
	}
	return map[string]string{authorizationKey: cur.header}, nil
}

func (t *tokenSource) RequireTransportSecurity() bool { return false }
