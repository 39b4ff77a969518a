package pglocal

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
)

const (
	// tempPrefix names the temporary folders Start creates, so that a later Start can
	// find and remove those whose creator died before calling Stop.
	tempPrefix = "waybill-pg-"
	// ownerFile, in a temporary folder, holds the pid of the process that created it.
	ownerFile = "owner.pid"
)

// account is the OS user that runs initdb and postgres; nil means the current user.
type account struct {
	uid, gid uint32
}

// serverAccount returns the account to run PostgreSQL as: nil when not root, else the
// OS user "postgres", since initdb and postgres refuse to run as root.
func serverAccount() (*account, error) {
	if os.Geteuid() != 0 {
		return nil, nil
	}
	u, err := user.Lookup("postgres")
	if err != nil {
		return nil, fmt.Errorf("running as root: PostgreSQL refuses to run as root and there is no OS user "+
			"\"postgres\" to run it as (`apt-get install -y postgresql` creates one): %w", err)
	}
	uid, err1 := strconv.ParseUint(u.Uid, 10, 32)
	gid, err2 := strconv.ParseUint(u.Gid, 10, 32)
	if err := errors.Join(err1, err2); err != nil {
		return nil, fmt.Errorf("OS user postgres: %w", err)
	}
	return &account{uid: uint32(uid), gid: uint32(gid)}, nil
}

// chown gives path to the account; a nil account keeps the current owner.
func (a *account) chown(path string) error {
	if a == nil {
		return nil
	}
	if err := os.Chown(path, int(a.uid), int(a.gid)); err != nil {
		return fmt.Errorf("give %s to the postgres user: %w", path, err)
	}
	return nil
}

// credential returns the credential to start a program with, or nil for the current user.
func (a *account) credential() *syscall.Credential {
	if a == nil {
		return nil
	}
	return &syscall.Credential{Uid: a.uid, Gid: a.gid, Groups: []uint32{}}
}

// prepareDir sets s.dataDir (and s.tempRoot for a temporary folder) and makes sure the
// account can create the cluster there.
func (s *Server) prepareDir(dir string, acct *account) error {
	if dir == "" {
		base := os.TempDir()
		if acct != nil {
			// Root's TMPDIR may be private; /tmp is traversable by everyone.
			base = "/tmp"
		}
		reapStale(base)
		root, err := os.MkdirTemp(base, tempPrefix)
		if err != nil {
			return fmt.Errorf("create temporary data folder: %w", err)
		}
		s.tempRoot = root
		if err := os.WriteFile(filepath.Join(root, ownerFile), []byte(strconv.Itoa(os.Getpid())), 0o644); err != nil {
			return fmt.Errorf("create temporary data folder: %w", err)
		}
		if err := os.Chmod(root, 0o755); err != nil {
			return fmt.Errorf("create temporary data folder: %w", err)
		}
		s.dataDir = filepath.Join(root, "data")
		if err := os.Mkdir(s.dataDir, 0o700); err != nil {
			return fmt.Errorf("create temporary data folder: %w", err)
		}
		return acct.chown(s.dataDir)
	}

	abs, err := filepath.Abs(dir)
	if err != nil {
		return fmt.Errorf("data folder %s: %w", dir, err)
	}
	s.dataDir = abs
	if err := os.MkdirAll(filepath.Dir(abs), 0o755); err != nil {
		return fmt.Errorf("create data folder: %w", err)
	}
	if err := os.Mkdir(abs, 0o700); err != nil && !errors.Is(err, fs.ErrExist) {
		return fmt.Errorf("create data folder: %w", err)
	}
	if acct == nil {
		return nil
	}
	if err := checkTraversable(filepath.Dir(abs), acct); err != nil {
		return err
	}
	if _, err := os.Stat(filepath.Join(abs, "PG_VERSION")); err == nil {
		return nil // an existing cluster keeps its owner
	}
	return acct.chown(abs)
}

// checkTraversable returns a clear error when the account cannot reach dir because a
// folder on its path denies it the search permission.
func checkTraversable(dir string, acct *account) error {
	for d := dir; ; d = filepath.Dir(d) {
		fi, err := os.Stat(d)
		if err != nil {
			return fmt.Errorf("data folder parent %s: %w", d, err)
		}
		mode := fi.Mode().Perm()
		st, _ := fi.Sys().(*syscall.Stat_t)
		allowed := mode&0o001 != 0 ||
			(st != nil && st.Uid == acct.uid && mode&0o100 != 0) ||
			(st != nil && st.Gid == acct.gid && mode&0o010 != 0)
		if !allowed {
			return fmt.Errorf("data folder: the postgres user cannot enter %s (mode %v); "+
				"choose a folder under a world-readable one such as /tmp or /var/tmp", d, mode)
		}
		if d == filepath.Dir(d) {
			return nil
		}
	}
}

// removeTemp removes the temporary folder, if Start created one.
func (s *Server) removeTemp() error {
	if s.tempRoot == "" {
		return nil
	}
	if err := os.RemoveAll(s.tempRoot); err != nil {
		return fmt.Errorf("remove temporary data folder: %w", err)
	}
	return nil
}

// reapStale removes temporary folders under base left behind by processes that died
// without calling Stop (a test binary killed on timeout, say). A folder whose creator
// or postgres is still alive, or whose creator is unknown, is left alone.
func reapStale(base string) {
	roots, _ := filepath.Glob(filepath.Join(base, tempPrefix+"*"))
	for _, root := range roots {
		owner, ok := readPid(filepath.Join(root, ownerFile))
		if !ok || alive(owner) {
			continue
		}
		if pm, ok := readPid(filepath.Join(root, "data", "postmaster.pid")); ok && alive(pm) {
			continue
		}
		_ = os.RemoveAll(root)
	}
}

// readPid reads the pid on the first line of a file.
func readPid(path string) (int, bool) {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0, false
	}
	first, _, _ := strings.Cut(string(b), "\n")
	pid, err := strconv.Atoi(strings.TrimSpace(first))
	return pid, err == nil && pid > 0
}

// alive reports whether a process with this pid exists.
func alive(pid int) bool {
	err := syscall.Kill(pid, 0)
	return err == nil || errors.Is(err, syscall.EPERM)
}
