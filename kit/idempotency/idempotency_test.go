package idempotency_test

import (
	"fmt"
	"go/build"
	"strings"
	"testing"

	"github.com/waybill/waybill/kit/errs"
	"github.com/waybill/waybill/kit/idempotency"
)

func TestCheckRequestID(t *testing.T) {
	for id, ok := range map[string]bool{"a": true, strings.Repeat("k", 128): true, strings.Repeat("k", 129): false,
		"tab\there": false, "é": false, "with space ~": true} {
		err := idempotency.CheckRequestID(id, true)
		if (err == nil) != ok {
			t.Errorf("CheckRequestID(%q) = %v, want ok %v", id, err, ok)
		}
		if err != nil {
			e, isErr := errs.As(err)
			if !isErr || e.Kind != errs.InvalidArgument || len(e.Fields) != 1 || e.Fields[0].Field != "request_id" {
				t.Errorf("CheckRequestID(%q) = %v, want INVALID_ARGUMENT naming request_id", id, err)
			}
		}
	}
	if idempotency.CheckRequestID("", false) != nil || idempotency.CheckRequestID("", true) == nil {
		t.Error("an empty id must pass only when optional")
	}
}

func TestFingerprint(t *testing.T) {
	seen := map[string]string{}
	for _, parts := range [][]string{{"ab", "c"}, {"a", "bc"}, {"abc"}, {"abc", ""}, {}, {""}} {
		h := string(idempotency.Fingerprint(parts...))
		if prev, dup := seen[h]; dup {
			t.Errorf("Fingerprint(%q) = Fingerprint(%s)", parts, prev)
		}
		seen[h] = fmt.Sprintf("%q", parts)
	}
}

// TestNoStorageDependencies: domain packages import this package for its plain types, so
// it must not bring the database driver (or anything else outside the standard library
// and kit/errs) with it; the storage is idempotencypg's.
func TestNoStorageDependencies(t *testing.T) {
	const module = "github.com/waybill/waybill/"
	allowed := map[string]bool{module + "kit/idempotency": true, module + "kit/errs": true}
	seen := map[string]bool{}
	var walk func(path, dir string)
	walk = func(path, dir string) {
		if seen[path] {
			return
		}
		seen[path] = true
		var p *build.Package
		var err error
		if dir != "" {
			p, err = build.ImportDir(dir, 0)
		} else {
			p, err = build.Import(path, "", 0)
		}
		if err != nil {
			t.Fatalf("import %s: %v", path, err)
		}
		if p.Goroot {
			return
		}
		if !allowed[path] {
			t.Errorf("kit/idempotency depends on %s; only the standard library and kit/errs are allowed", path)
			return
		}
		for _, imp := range p.Imports {
			walk(imp, "")
		}
	}
	walk(module+"kit/idempotency", ".")
}
