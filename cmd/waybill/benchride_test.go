package main

import (
	"context"
	"io"
	"strings"
	"testing"
)

func TestBenchRideRefusesNonLoopbackAndUnboundedRuns(t *testing.T) {
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"--gateway", "http://example.com:8080"}, "loopback"},
		{[]string{"--rate", "0"}, "--rate"},
		{[]string{"--duration", "40m"}, "--duration"},
		{[]string{"--drivers", "0"}, "--drivers"},
		{[]string{"--gateway", "ftp://127.0.0.1"}, "not an http(s) URL"},
		{[]string{"--cpu-pid", "1", "--cpu-database-url", "postgres://10.1.2.3/x"}, "--cpu-database-url"},
		{[]string{"--cpu-database-url", "postgres://127.0.0.1/x"}, "with --cpu-pid"},
	} {
		err := run(context.Background(), append([]string{"bench", "ride"}, c.args...), func(string) string { return "" }, io.Discard)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("bench ride %v: %v, want an error about %s", c.args, err, c.want)
		}
	}
}

// benchRideSmoke runs a short `waybill bench ride` against gw: every ride must get its
// driver and end up on a bill.
func benchRideSmoke(t *testing.T, gw string) {
	t.Helper()
	var out strings.Builder
	err := run(context.Background(), []string{"bench", "ride", "--gateway", gw, "--rate", "5", "--duration", "2s", "--warmup", "0s", "--drivers", "5"},
		func(string) string { return "" }, &out)
	if err != nil {
		t.Fatalf("bench ride: %v\n%s", err, out.String())
	}
	for _, want := range []string{"scheduled 10, assigned 10, failed 0", "ended 10, billed 10"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("bench ride's report lacks %q:\n%s", want, out.String())
		}
	}
	t.Logf("waybill bench ride:\n%s", out.String())
}
