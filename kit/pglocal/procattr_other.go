//go:build unix && !linux

package pglocal

import "syscall"

// serverProcAttr runs postgres as the account, in its own process group. Only Linux has a
// parent-death signal: elsewhere postgres outlives a parent killed without calling Stop.
func serverProcAttr(acct *account) *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Credential: acct.credential(), Setpgid: true}
}

// initdbProcAttr runs initdb as the account.
func initdbProcAttr(acct *account) *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Credential: acct.credential()}
}
