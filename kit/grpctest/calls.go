package grpctest

import (
	"context"
	"sync"

	"google.golang.org/grpc"
)

// CallCounter counts unary calls per method: the calls a server answered, as one of its
// ServerOption, or the calls a client made, per target, as one of its DialOption (for
// example the connections a service under test makes to the services it calls). Its
// zero value is ready to use, and it is safe for concurrent use.
type CallCounter struct {
	mu    sync.Mutex
	calls map[call]int
}

// call is one counter: a method, and the target a client called ("" on a server).
type call struct{ target, method string }

func (c *CallCounter) add(target, method string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.calls == nil {
		c.calls = map[call]int{}
	}
	c.calls[call{target, method}]++
}

// ServerOption counts the calls a server answers. Pass it to Start through
// WithServerOptions.
func (c *CallCounter) ServerOption() grpc.ServerOption {
	return grpc.ChainUnaryInterceptor(c.UnaryServerInterceptor())
}

// UnaryServerInterceptor counts the calls a server answers, for a server the harness
// does not start.
func (c *CallCounter) UnaryServerInterceptor() grpc.UnaryServerInterceptor {
	return func(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
		c.add("", info.FullMethod)
		return handler(ctx, req)
	}
}

// DialOption counts the calls made on a connection, by method and target.
func (c *CallCounter) DialOption() grpc.DialOption {
	return grpc.WithChainUnaryInterceptor(func(ctx context.Context, method string, req, reply any, cc *grpc.ClientConn, invoker grpc.UnaryInvoker, opts ...grpc.CallOption) error {
		c.add(cc.Target(), method)
		return invoker(ctx, method, req, reply, cc, opts...)
	})
}

// Count returns the calls of method ("/package.Service/Method") counted so far, to any
// target.
func (c *CallCounter) Count(method string) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	n := 0
	for k, v := range c.calls {
		if k.method == method {
			n += v
		}
	}
	return n
}

// Targets returns the calls of method counted so far by the target they went to.
func (c *CallCounter) Targets(method string) map[string]int {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := map[string]int{}
	for k, v := range c.calls {
		if k.method == method {
			out[k.target] += v
		}
	}
	return out
}

// Take returns the calls counted so far by method and starts again from zero.
func (c *CallCounter) Take() map[string]int {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := map[string]int{}
	for k, v := range c.calls {
		out[k.method] += v
	}
	c.calls = nil
	return out
}

// Reset forgets the calls counted so far.
func (c *CallCounter) Reset() { c.Take() }
