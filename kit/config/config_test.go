package config

import (
	"flag"
	"testing"
)

func TestParsePrecedence(t *testing.T) {
	env := map[string]string{
		"WAYBILL_GRPC_ADDR": "from-prefixed-env",
		"GRPC_ADDR":         "from-plain-env",
		"DATABASE_URL":      "postgres://u:secret@h/db",
		"WAYBILL_TIMEOUT":   "bad",
	}
	getenv := func(k string) string { return env[k] }

	fs := flag.NewFlagSet("t", flag.ContinueOnError)
	addr := fs.String("grpc-addr", "default", "")
	db := fs.String("database-url", "", "")
	other := fs.String("http-addr", "default-http", "")
	cli := fs.String("name", "default-name", "")
	if err := Parse(fs, []string{"-name", "from-cli"}, getenv); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct{ got, want string }{
		{*addr, "from-prefixed-env"},
		{*db, "postgres://u:secret@h/db"},
		{*other, "default-http"},
		{*cli, "from-cli"},
	} {
		if c.got != c.want {
			t.Errorf("got %q, want %q", c.got, c.want)
		}
	}

	fs2 := flag.NewFlagSet("t", flag.ContinueOnError)
	fs2.Duration("timeout", 0, "")
	if err := Parse(fs2, nil, getenv); err == nil {
		t.Error("a malformed value from the environment must fail")
	}
}

func TestMask(t *testing.T) {
	cases := []struct{ name, value, want string }{
		{"database-url", "postgres://u:secret@h:5432/db", "postgres://u:%2A%2A%2A%2A@h:5432/db"},
		{"database-url", "postgres://u@h/db", "postgres://u@h/db"},
		{"auth-secret", "abc", "****"},
		{"grpc-addr", "127.0.0.1:1", "127.0.0.1:1"},
	}
	for _, c := range cases {
		if got := Mask(c.name, c.value); got != c.want {
			t.Errorf("Mask(%q, %q) = %q, want %q", c.name, c.value, got, c.want)
		}
	}
}
