//go:build unix

package drill

import (
	"errors"
	"fmt"
	"os"
	"syscall"
)

// The signals of the node drills.
const (
	sigKill = syscall.SIGKILL
	sigStop = syscall.SIGSTOP
	sigCont = syscall.SIGCONT
)

// checkPID refuses a pid the drill must not signal: not a plain positive
// pid (0 and -1 address process groups, 1 is init), the drill itself, or a
// process that is not alive or not ours to signal.
func checkPID(pid int) error {
	if pid <= 1 {
		return fmt.Errorf("pid %d: must be a process id above 1", pid)
	}
	if pid == os.Getpid() {
		return fmt.Errorf("pid %d is this drill", pid)
	}
	switch err := syscall.Kill(pid, 0); {
	case err == nil:
		return nil
	case errors.Is(err, syscall.ESRCH):
		return fmt.Errorf("pid %d: no such process", pid)
	default:
		return fmt.Errorf("pid %d: cannot signal it: %w", pid, err)
	}
}

// sendSignal sends sig to pid, checked again first: a pid that ended since the
// start may have been reused.
func sendSignal(pid int, sig syscall.Signal) error {
	if err := checkPID(pid); err != nil {
		return err
	}
	if err := syscall.Kill(pid, sig); err != nil {
		return fmt.Errorf("send %v to pid %d: %w", sig, pid, err)
	}
	return nil
}
