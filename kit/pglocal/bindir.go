package pglocal

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
)

// debianRoot is where Debian and Ubuntu install one folder of server binaries per major
// version; only there are initdb and postgres always the real programs.
const debianRoot = "/usr/lib/postgresql"

// ErrNoBinaries is returned by FindBinDir when no PostgreSQL server binaries are installed.
var ErrNoBinaries = errors.New("PostgreSQL server binaries (initdb, postgres) not found in " +
	debianRoot + "/*/bin or PATH; install them with `apt-get update && apt-get install -y postgresql`")

// FindBinDir returns the folder holding the PostgreSQL server programs initdb and postgres.
// It prefers the highest version under /usr/lib/postgresql/*/bin, because the names on PATH
// may be Debian's version-switching wrapper scripts, and falls back to the folder of the
// initdb found on PATH (symbolic links resolved). The error wraps ErrNoBinaries and says
// what to install.
func FindBinDir() (string, error) {
	if dir := highestDebianBinDir(debianRoot); dir != "" {
		return dir, nil
	}
	if p, err := exec.LookPath("initdb"); err == nil {
		if real, err := filepath.EvalSymlinks(p); err == nil {
			dir := filepath.Dir(real)
			if isServerBinDir(dir) {
				return dir, nil
			}
		}
	}
	return "", ErrNoBinaries
}

// highestDebianBinDir returns root/<version>/bin of the highest version that holds the
// server programs, or "" when there is none.
func highestDebianBinDir(root string) string {
	entries, err := os.ReadDir(root)
	if err != nil {
		return ""
	}
	type candidate struct {
		version []int
		dir     string
	}
	var found []candidate
	for _, e := range entries {
		v, ok := parseVersion(e.Name())
		if !ok {
			continue
		}
		dir := filepath.Join(root, e.Name(), "bin")
		if isServerBinDir(dir) {
			found = append(found, candidate{v, dir})
		}
	}
	if len(found) == 0 {
		return ""
	}
	best := slices.MaxFunc(found, func(a, b candidate) int { return slices.Compare(a.version, b.version) })
	return best.dir
}

// parseVersion parses a folder name such as "15" or "9.6" into its numeric parts.
func parseVersion(s string) ([]int, bool) {
	var v []int
	for part := range strings.SplitSeq(s, ".") {
		n, err := strconv.Atoi(part)
		if err != nil || n < 0 {
			return nil, false
		}
		v = append(v, n)
	}
	return v, true
}

// isServerBinDir reports whether dir holds initdb and postgres as executable programs
// rather than scripts (Debian's pg_wrapper is a Perl script).
func isServerBinDir(dir string) bool {
	for _, name := range []string{"initdb", "postgres"} {
		if !isProgram(filepath.Join(dir, name)) {
			return false
		}
	}
	return true
}

func isProgram(path string) bool {
	fi, err := os.Stat(path)
	if err != nil || !fi.Mode().IsRegular() || fi.Mode().Perm()&0o111 == 0 {
		return false
	}
	f, err := os.Open(path)
	if err != nil {
		return false
	}
	defer f.Close()
	head := make([]byte, 2)
	if _, err := f.Read(head); err != nil {
		return false
	}
	return !bytes.Equal(head, []byte("#!"))
}

// binPath returns the path of one program in dir, for error messages and exec.
func binPath(dir, name string) string { return filepath.Join(dir, name) }

// describeExit adds the program's output to an exec error.
func describeExit(what string, err error, out []byte) error {
	out = bytes.TrimSpace(out)
	if len(out) == 0 {
		return fmt.Errorf("%s: %w", what, err)
	}
	return fmt.Errorf("%s: %w\n%s", what, err, out)
}
