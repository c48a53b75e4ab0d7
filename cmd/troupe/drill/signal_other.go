//go:build !unix

package drill

import (
	"errors"
	"syscall"
)

// The signals of the node drills; they exist only on Unix.
const (
	sigKill = syscall.Signal(9)
	sigStop = syscall.Signal(19)
	sigCont = syscall.Signal(18)
)

// checkPID refuses every pid: this system has no Unix signals.
func checkPID(int) error {
	return errors.New("node drills need Unix signals (SIGKILL, SIGSTOP, SIGCONT)")
}

// sendSignal fails: this system has no Unix signals.
func sendSignal(pid int, _ syscall.Signal) error { return checkPID(pid) }
