package pgxutil

import (
	"io/fs"
	"testing"
	"testing/fstest"
)

func TestMergeMigrations(t *testing.T) {
	a := fstest.MapFS{"0001_a.sql": {Data: []byte("A")}, "0002_b.sql": {Data: []byte("B")}}
	b := fstest.MapFS{"0100_outbox.sql": {Data: []byte("O")}}
	m, err := MergeMigrations(b, a)
	if err != nil {
		t.Fatal(err)
	}
	ms, err := Migrations(m)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, x := range ms {
		got = append(got, x.Version+"="+x.SQL)
	}
	want := []string{"0001_a=A", "0002_b=B", "0100_outbox=O"}
	if len(got) != len(want) {
		t.Fatalf("got %v, want %v", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("got %v, want %v", got, want)
		}
	}
	if _, err := MergeMigrations(a, fstest.MapFS{"0001_a.sql": {Data: []byte("X")}}); err == nil {
		t.Error("a name in two sets must be rejected")
	}
	var _ fs.FS = m
}

// TestDirPanicsOnAMissingFolder: a misspelt folder fails when the package loads, not
// when a service migrates at run time.
func TestDirPanicsOnAMissingFolder(t *testing.T) {
	files := fstest.MapFS{"migrations/0001_a.sql": {Data: []byte("SELECT 1")}}
	if got := Dir(files, "migrations"); got == nil {
		t.Fatal("no migrations from the right folder")
	}
	defer func() {
		if recover() == nil {
			t.Fatal("Dir accepted a folder that does not exist")
		}
	}()
	Dir(files, "migratoins")
}
