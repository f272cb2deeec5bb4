package storetest

import (
	"errors"
	"os"
	"os/user"
	"path/filepath"
	"strconv"
	"syscall"
)

// childAttr runs a child as runAs, when not nil.
func childAttr(runAs *user.User) (*syscall.SysProcAttr, error) {
	attr := &syscall.SysProcAttr{}
	if runAs != nil {
		uid, gid, err := ids(runAs)
		if err != nil {
			return nil, err
		}
		attr.Credential = &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}
	}
	return attr, nil
}

func chown(path string, u *user.User) error {
	uid, gid, err := ids(u)
	if err != nil {
		return err
	}
	return os.Chown(path, uid, gid)
}

func ids(u *user.User) (uid, gid int, err error) {
	if uid, err = strconv.Atoi(u.Uid); err != nil {
		return 0, 0, err
	}
	gid, err = strconv.Atoi(u.Gid)
	return uid, gid, err
}

// setParentDeathSignal makes the kernel kill the child when the thread that
// started it exits. Go sets it after switching credentials, which would
// otherwise clear it.
func setParentDeathSignal(attr *syscall.SysProcAttr) {
	if attr != nil {
		attr.Pdeathsig = syscall.SIGKILL
	}
}

// immediateShutdown is `pg_ctl stop -m immediate`: SIGQUIT to the postmaster.
func immediateShutdown(p *os.Process) {
	if err := p.Signal(syscall.SIGQUIT); err != nil {
		p.Kill()
	}
}

// reapStaleServers deletes the directories of servers whose test binary is
// gone without stopping them (killed, or without a TestMain): the kernel
// killed their postmaster then, but nobody deleted their files.
func reapStaleServers() {
	seen := map[string]bool{}
	for _, parent := range []string{os.TempDir(), "/tmp"} {
		dirs, _ := filepath.Glob(filepath.Join(parent, staleDirPrefix+"*"))
		for _, dir := range dirs {
			pid, ok := staleDirPID(dir)
			if !ok || seen[dir] || pid == os.Getpid() {
				continue
			}
			seen[dir] = true
			if err := syscall.Kill(pid, 0); errors.Is(err, syscall.ESRCH) {
				os.RemoveAll(dir)
			}
		}
	}
}
