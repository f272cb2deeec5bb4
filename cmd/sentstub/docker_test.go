package main_test

import (
	"bytes"
	"context"
	"debug/elf"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/sentstub/sentstub/internal/testutil"
)

// The image's user and group (distroless's nonroot).
const imageUID, imageGID = 65532, 65532

// The Dockerfile's image is checked without a Docker engine (and without
// downloading its base images): the binary is built as its build stage
// builds it, found static, and run as its runtime stage runs it, with its
// variables, as its user when the test can switch to it.
func TestDockerfileBinary(t *testing.T) {
	dockerfile, err := os.ReadFile(filepath.Join("..", "..", "Dockerfile"))
	if err != nil {
		t.Fatal(err)
	}
	const (
		build = `CGO_ENABLED=0 go build -trimpath -buildvcs=false \
        -ldflags "-s -w -X github.com/sentstub/sentstub/server.buildCommit=${COMMIT}" \
        -o /out/sentstub ./cmd/sentstub`
		addr = "SENTSTUB_ADDR=0.0.0.0:8080"
		db   = "SENTSTUB_DB=/data/sentstub.db"
	)
	for _, want := range []string{"FROM golang:", " AS build\n", build, "FROM gcr.io/distroless/static", "USER 65532:65532",
		"--chown=65532:65532 /out/data /data", addr, db, "EXPOSE 8080", `VOLUME ["/data"]`, `ENTRYPOINT ["/usr/local/bin/sentstub"]`} {
		if !bytes.Contains(dockerfile, []byte(want)) {
			t.Errorf("the Dockerfile does not contain %q, which this test checks", want)
		}
	}

	goBin, err := exec.LookPath("go")
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	bin := filepath.Join(dir, "sentstub")
	cmd := exec.Command(goBin, "build", "-trimpath", "-buildvcs=false",
		"-ldflags", "-s -w -X github.com/sentstub/sentstub/server.buildCommit=0123456789abcdef", "-o", bin, ".")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("CGO_ENABLED=0 go build: %v\n%s", err, out)
	}

	// Static: no dynamic loader, no shared library.
	f, err := elf.Open(bin)
	if err != nil {
		t.Fatalf("the binary is not ELF: %v", err)
	}
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP {
			t.Errorf("the binary asks for a dynamic loader (PT_INTERP): it is not static")
		}
	}
	if libs, _ := f.ImportedLibraries(); len(libs) > 0 {
		t.Errorf("the binary needs shared libraries %v", libs)
	}
	f.Close()

	version, err := exec.Command(bin, "--version").Output()
	if err != nil || !strings.Contains(string(version), " commit 0123456789abcdef ") {
		t.Errorf("--version = %q, %v; want the commit given with -X", version, err)
	}

	// Run as the image does: its variables, a fresh data directory, its
	// user (when the test runs as root and can switch to it).
	data := filepath.Join(dir, "data")
	if err := os.Mkdir(data, 0o755); err != nil {
		t.Fatal(err)
	}
	port, err := testutil.FreePort()
	if err != nil {
		t.Fatal(err)
	}
	run := exec.Command(bin)
	run.Env = append(withoutSentstubEnv(),
		fmt.Sprintf("SENTSTUB_ADDR=0.0.0.0:%d", port), "SENTSTUB_DB="+filepath.Join(data, "sentstub.db"), "SENTSTUB_LOG_LEVEL=warn")
	if os.Geteuid() == 0 {
		if err := os.Chown(data, imageUID, imageGID); err != nil {
			t.Fatal(err)
		}
		// The user must reach the binary and the data directory.
		for p := dir; p != filepath.Dir(p) && strings.HasPrefix(p, os.TempDir()); p = filepath.Dir(p) {
			if err := os.Chmod(p, 0o755); err != nil {
				t.Fatal(err)
			}
		}
		run.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: imageUID, Gid: imageGID}}
	} else {
		t.Logf("not root: running the binary as uid %d, not the image's %d", os.Geteuid(), imageUID)
	}
	logs := &testutil.SyncBuffer{}
	run.Stdout, run.Stderr = logs, logs
	if err := run.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- run.Wait() }()
	defer func() {
		run.Process.Signal(syscall.SIGTERM)
		select {
		case err := <-exited:
			if err != nil {
				t.Errorf("sentstub did not exit cleanly on SIGTERM: %v\n%s", err, logs)
			}
		case <-time.After(10 * time.Second):
			run.Process.Kill()
			t.Errorf("sentstub did not stop within 10s of SIGTERM")
		}
	}()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	for {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, fmt.Sprintf("http://127.0.0.1:%d/readyz", port), nil)
		res, err := http.DefaultClient.Do(req)
		if err == nil {
			res.Body.Close()
			if res.StatusCode == http.StatusOK {
				break
			}
		}
		select {
		case err := <-exited:
			exited <- err
			t.Fatalf("sentstub exited: %v\n%s", err, logs)
		case <-ctx.Done():
			t.Fatalf("not ready on 0.0.0.0:%d within 20s: %v\n%s", port, err, logs)
		case <-time.After(50 * time.Millisecond):
		}
	}
	if _, err := os.Stat(filepath.Join(data, "sentstub.db")); err != nil {
		t.Errorf("no database in the data directory: %v", err)
	}
}
