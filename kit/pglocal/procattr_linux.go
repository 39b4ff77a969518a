package pglocal

import "syscall"

// serverProcAttr runs postgres as the account, in its own process group (a Ctrl-C in the
// terminal reaches only the parent, which stops postgres in its own time), with SIGINT —
// postgres's fast shutdown — sent to it when the parent dies.
func serverProcAttr(acct *account) *syscall.SysProcAttr {
	return &syscall.SysProcAttr{
		Credential: acct.credential(),
		Setpgid:    true,
		Pdeathsig:  syscall.SIGINT,
	}
}

// initdbProcAttr runs initdb as the account, killed if the parent dies.
func initdbProcAttr(acct *account) *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Credential: acct.credential(), Pdeathsig: syscall.SIGKILL}
}
