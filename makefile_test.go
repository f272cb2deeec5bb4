package sentstub_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// `make help` lists every target of the Makefile with the one-line
// description of its ## comment, and every target has one.
func TestMakeHelp(t *testing.T) {
	makefile, err := os.ReadFile("Makefile")
	if err != nil {
		t.Fatal(err)
	}
	described := map[string]string{} // target -> its ## description
	var order []string
	comment := regexp.MustCompile(`^## ([a-zA-Z_-]+): (.+)$`)
	rule := regexp.MustCompile(`^([a-zA-Z_-]+):`)
	lines := strings.Split(string(makefile), "\n")
	for i, line := range lines {
		if m := comment.FindStringSubmatch(line); m != nil {
			if i+1 >= len(lines) || !strings.HasPrefix(lines[i+1], m[1]+":") {
				t.Errorf("Makefile line %d: %q does not sit right above the rule of %s", i+1, line, m[1])
			}
			described[m[1]] = m[2]
			order = append(order, m[1])
			continue
		}
		if m := rule.FindStringSubmatch(line); m != nil && !strings.Contains(line, ":=") {
			if _, ok := described[m[1]]; !ok {
				t.Errorf("Makefile line %d: target %s has no \"## %s: what it does\" comment above it", i+1, m[1], m[1])
			}
		}
	}
	if len(order) == 0 {
		t.Fatal("the Makefile has no ## comments")
	}

	mk, err := exec.LookPath("make")
	if err != nil {
		t.Skipf("no make command: %v", err)
	}
	cmd := exec.Command(mk, "--no-print-directory", "help")
	// Not the settings of a make that runs this test (make test).
	cmd.Env = append(os.Environ(), "MAKEFLAGS=", "MAKELEVEL=")
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("make help: %v\n%s", err, out)
	}
	listed := map[string]string{}
	for _, line := range strings.Split(strings.TrimRight(string(out), "\n"), "\n") {
		f := strings.Fields(line)
		if len(f) < 3 || f[0] != "make" {
			t.Errorf("make help printed %q, want \"make TARGET  description\"", line)
			continue
		}
		listed[f[1]] = strings.Join(f[2:], " ")
	}
	for _, target := range order {
		if got, want := listed[target], strings.Join(strings.Fields(described[target]), " "); got != want {
			t.Errorf("make help lists %s as %q, want its ## comment %q", target, got, want)
		}
	}
	if len(listed) != len(order) {
		t.Errorf("make help lists %d targets, the Makefile describes %d:\n%s", len(listed), len(order), out)
	}
}

// make docker says what is missing, and builds nothing, where there is no
// docker command or no engine answers it. (Where one answers it would build
// the image, downloading its base images: not a test's business.)
func TestMakeDockerWithoutEngine(t *testing.T) {
	mk, err := exec.LookPath("make")
	if err != nil {
		t.Skipf("no make command: %v", err)
	}
	dir := t.TempDir()
	// A docker whose engine does not answer: `docker info` fails, and any
	// other use of it is recorded.
	fake := filepath.Join(dir, "docker")
	used := filepath.Join(dir, "used")
	script := "#!/bin/sh\nif [ \"$1\" = info ]; then echo 'Cannot connect to the Docker daemon' >&2; exit 1; fi\necho \"$@\" >> " + used + "\n"
	if err := os.WriteFile(fake, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		docker string
		want   string
	}{
		{filepath.Join(dir, "no-such-docker"), "there is no " + filepath.Join(dir, "no-such-docker") + " command here; install Docker"},
		{fake, "no Docker engine answers"},
	} {
		cmd := exec.Command(mk, "--no-print-directory", "docker", "DOCKER="+tt.docker)
		cmd.Env = append(os.Environ(), "MAKEFLAGS=", "MAKELEVEL=")
		var stdout, stderr strings.Builder
		cmd.Stdout, cmd.Stderr = &stdout, &stderr
		err := cmd.Run()
		if err == nil {
			t.Errorf("make docker DOCKER=%s succeeded", tt.docker)
		}
		if !strings.Contains(stderr.String(), "make docker: ") || !strings.Contains(stderr.String(), tt.want) {
			t.Errorf("make docker DOCKER=%s said %q, want %q", tt.docker, stderr.String(), tt.want)
		}
	}
	if b, err := os.ReadFile(used); err == nil {
		t.Errorf("make docker ran docker %s without an engine", b)
	}
}
