//go:build !linux

package storetest

import (
	"errors"
	"os"
	"os/user"
	"syscall"
)

var errRootElsewhere = errors.New("running PostgreSQL for tests as root is supported on Linux only")

func childAttr(runAs *user.User) (*syscall.SysProcAttr, error) {
	if runAs != nil {
		return nil, errRootElsewhere
	}
	return nil, nil
}

func chown(string, *user.User) error { return errRootElsewhere }

// setParentDeathSignal does nothing: only Linux has parent-death signals.
func setParentDeathSignal(*syscall.SysProcAttr) {}

// immediateShutdown is `pg_ctl stop -m immediate`: SIGQUIT to the postmaster.
func immediateShutdown(p *os.Process) {
	if err := p.Signal(syscall.SIGQUIT); err != nil {
		p.Kill()
	}
}

// fastShutdown is `pg_ctl stop -m fast`: SIGINT to the postmaster.
func fastShutdown(p *os.Process) {
	if err := p.Signal(syscall.SIGINT); err != nil {
		p.Kill()
	}
}

// reapStaleServers does nothing: without parent-death signals, the
// server of a dead test binary may still be running in its directory.
func reapStaleServers() {}

func freeze(int) ([]int, error) { return nil, errFreezeUnsupported }

func thaw([]int) error { return nil }
