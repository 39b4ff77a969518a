package pgxutil

import (
	"fmt"
	"io/fs"
	"testing/fstest"
)

// MergeMigrations returns one migration set holding the *.sql files of every set, for a
// schema whose tables come from several packages (a service's own migrations plus the
// outbox's, say). File names must be unique across the sets; their order decides the
// order of application, so each package keeps its own number range (a service 0001–0099,
// kit/outbox 0100–0199, kit/consumer 0200–0299).
func MergeMigrations(sets ...fs.FS) (fs.FS, error) {
	merged := fstest.MapFS{}
	for _, set := range sets {
		ms, err := Migrations(set)
		if err != nil {
			return nil, err
		}
		for _, m := range ms {
			name := m.Version + ".sql"
			if _, dup := merged[name]; dup {
				return nil, fmt.Errorf("pgxutil: migration %s appears in two sets", name)
			}
			merged[name] = &fstest.MapFile{Data: []byte(m.SQL), Mode: 0o444}
		}
	}
	return merged, nil
}

// MustMergeMigrations is MergeMigrations for package-level variables of embedded sets,
// where an error is a programming mistake.
func MustMergeMigrations(sets ...fs.FS) fs.FS {
	m, err := MergeMigrations(sets...)
	if err != nil {
		panic(err)
	}
	return m
}

// Dir returns the migration set in folder dir of an embedded file system, for a
// package-level variable: `//go:embed migrations/*.sql` then `pgxutil.Dir(files,
// "migrations")`. A folder that is not there, or holds no *.sql file, is a programming
// mistake, so it panics (fs.Sub alone accepts any name).
func Dir(files fs.FS, dir string) fs.FS {
	sub, err := fs.Sub(files, dir)
	if err == nil {
		_, err = Migrations(sub)
	}
	if err != nil {
		panic(fmt.Sprintf("pgxutil: migrations folder %q: %v", dir, err))
	}
	return sub
}
