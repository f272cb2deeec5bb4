package storetest

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
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

// fastShutdown is `pg_ctl stop -m fast`: SIGINT to the postmaster.
func fastShutdown(p *os.Process) {
	if err := p.Signal(syscall.SIGINT); err != nil {
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

// freeze stops the process pid with SIGSTOP, then each of its children
// (PostgreSQL's backends are the postmaster's children, each in a session
// of its own, so a process group would not reach them), and returns once
// all of them are stopped. Stopping the parent first means that it forks
// no child that the list would miss. It returns the processes it stopped,
// for thaw, even when it fails.
func freeze(pid int) ([]int, error) {
	if err := syscall.Kill(pid, syscall.SIGSTOP); err != nil {
		return nil, err
	}
	stopped := []int{pid}
	if err := waitStopped(pid); err != nil {
		return stopped, err
	}
	children, err := childrenOf(pid)
	if err != nil {
		return stopped, err
	}
	for _, c := range children {
		if err := syscall.Kill(c, syscall.SIGSTOP); err != nil && !errors.Is(err, syscall.ESRCH) {
			return stopped, err
		}
		stopped = append(stopped, c)
	}
	for _, c := range children {
		if err := waitStopped(c); err != nil {
			return stopped, err
		}
	}
	return stopped, nil
}

// thaw resumes the processes freeze stopped, children first.
func thaw(pids []int) error {
	var errs []error
	for i := len(pids) - 1; i >= 0; i-- {
		if err := syscall.Kill(pids[i], syscall.SIGCONT); err != nil && !errors.Is(err, syscall.ESRCH) {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// procStat returns the state and the parent of process pid, from
// /proc/<pid>/stat ("pid (comm) state ppid ...", where comm may hold
// spaces and parentheses).
func procStat(pid int) (state byte, ppid int, err error) {
	b, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "stat"))
	if err != nil {
		return 0, 0, err
	}
	i := bytes.LastIndexByte(b, ')')
	fields := strings.Fields(string(b[i+1:]))
	if i < 0 || len(fields) < 2 || len(fields[0]) != 1 {
		return 0, 0, fmt.Errorf("/proc/%d/stat: unexpected format", pid)
	}
	ppid, err = strconv.Atoi(fields[1])
	return fields[0][0], ppid, err
}

// childrenOf lists the processes whose parent is pid.
func childrenOf(pid int) ([]int, error) {
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return nil, err
	}
	var children []int
	for _, e := range entries {
		child, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		if _, ppid, err := procStat(child); err == nil && ppid == pid {
			children = append(children, child)
		}
	}
	return children, nil
}

// waitStopped waits until process pid is stopped (state T), or gone.
func waitStopped(pid int) error {
	deadline := time.Now().Add(5 * time.Second)
	for {
		state, _, err := procStat(pid)
		if err != nil || state == 'T' || state == 'Z' || state == 'X' {
			return nil // gone, stopped, or dead
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("process %d did not stop (state %c)", pid, state)
		}
		time.Sleep(time.Millisecond)
	}
}
