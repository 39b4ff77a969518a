package pglocal

import (
	"bytes"
	"context"
	"log/slog"
	"strings"
	"sync"
)

// tailLines is how many of postgres's last output lines errors quote.
const tailLines = 30

// outputLog receives postgres's stdout and stderr: each line goes to the logger at Debug
// and the last lines are kept for error messages.
type outputLog struct {
	logger *slog.Logger

	mu      sync.Mutex
	partial []byte
	lines   []string
}

func newOutputLog(logger *slog.Logger) *outputLog { return &outputLog{logger: logger} }

// Write implements io.Writer.
func (o *outputLog) Write(p []byte) (int, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.partial = append(o.partial, p...)
	for {
		i := bytes.IndexByte(o.partial, '\n')
		if i < 0 {
			break
		}
		line := string(bytes.TrimRight(o.partial[:i], "\r"))
		o.partial = o.partial[i+1:]
		o.lines = append(o.lines, line)
		if len(o.lines) > tailLines {
			o.lines = o.lines[len(o.lines)-tailLines:]
		}
		o.logger.Log(context.Background(), slog.LevelDebug, line, slog.String("source", "postgres"))
	}
	return len(p), nil
}

// reset forgets the kept lines, before a new start attempt.
func (o *outputLog) reset() {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.partial, o.lines = nil, nil
}

// tail returns the kept lines.
func (o *outputLog) tail() string {
	o.mu.Lock()
	defer o.mu.Unlock()
	return strings.Join(append(o.lines, string(o.partial)), "\n")
}

// contains reports whether a kept line contains s.
func (o *outputLog) contains(s string) bool {
	return strings.Contains(o.tail(), s)
}
