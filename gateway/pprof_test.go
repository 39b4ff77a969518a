package gateway

import (
	"bufio"
	"encoding/json"
	"io"
	"net/http"
	"testing"
	"time"

	"github.com/waybill/waybill/kit/auth"
	"github.com/waybill/waybill/kit/serve"
)

// TestRunServesProfilesOnlyOnTheirOwnAddress: with --pprof-addr the gateway serves the Go
// runtime's profiles on that address, and never on its public one.
func TestRunServesProfilesOnlyOnTheirOwnAddress(t *testing.T) {
	t.Parallel()
	services := map[string]string{}
	for name := range handlers {
		services[name] = "127.0.0.1:9" // dialed lazily, never called
	}
	ctx := t.Context()
	logs, logw := io.Pipe()
	done := make(chan error, 1)
	go func() {
		done <- Run(ctx, Defaults{Services: services}, []string{"--http-addr", "127.0.0.1:0", "--pprof-addr", "127.0.0.1:0"},
			func(string) string { return "" }, logw)
		logw.Close()
	}()
	t.Cleanup(func() { // after t.Context is cancelled
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
	})
	// The log names both listeners' addresses.
	var public, profiles string
	lines := bufio.NewScanner(logs)
	for (public == "" || profiles == "") && lines.Scan() {
		var line struct{ Msg, HTTP, Pprof string }
		if json.Unmarshal(lines.Bytes(), &line) != nil {
			continue
		}
		switch line.Msg {
		case "serving":
			public = line.HTTP
		case "serving profiles":
			profiles = line.Pprof
		}
	}
	go func() { _, _ = io.Copy(io.Discard, logs) }()
	if public == "" || profiles == "" {
		t.Fatal("the gateway stopped before it served (see its error in the cleanup)")
	}
	// Even an operator's token finds no profiles on the public address.
	signer, err := auth.NewSigner(serve.DevAuthSecret)
	if err != nil {
		t.Fatal(err)
	}
	ops, err := signer.Sign(auth.Identity{Subject: "ops-1", Role: auth.RoleOperator}, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		addr string
		want int
	}{{profiles, http.StatusOK}, {public, http.StatusNotFound}} {
		req, _ := http.NewRequest("GET", "http://"+c.addr+"/debug/pprof/cmdline", nil)
		req.Header.Set("Authorization", "Bearer "+ops)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != c.want {
			t.Errorf("%s/debug/pprof/cmdline answered %d, want %d", c.addr, resp.StatusCode, c.want)
		}
	}
}
