package client_test

import (
	"bufio"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// The modules a program that imports package client may build with,
// besides the standard library: the client's own module and what the
// generated client code needs.
var clientModules = []string{
	"github.com/sentstub/sentstub",
	"github.com/google/uuid",
	"github.com/oapi-codegen/runtime",
	"github.com/oapi-codegen/nullable",
	"github.com/apapsch/go-jsonmerge/v2", // imported by oapi-codegen/runtime
}

// The packages of this module such a program may build with: not the
// server's package gen (Echo's interface, the embedded spec), nor package
// api (the spec itself), nor anything of the server or the stores.
var clientPackages = []string{
	"github.com/sentstub/sentstub/client",
	"github.com/sentstub/sentstub/gen/client",
	"github.com/sentstub/sentstub/api/apitime",
}

// What issue 13 found a hello world pulling in; named here so that a
// failure says plainly what came back.
var serverModules = []string{
	"github.com/labstack/echo",
	"github.com/getkin/kin-openapi",
	"modernc.org/sqlite",
	"github.com/jackc/pgx",
}

// TestHelloWorldDependencies builds testdata/hello, one toggle call, the
// way a user would: in a module of its own that requires this one (through
// a replace directive pointing at this checkout), tidied with go mod tidy.
// Its go.mod and the packages it builds with must name nothing of the
// server. (scripts/client-size.sh measures its size.)
func TestHelloWorldDependencies(t *testing.T) {
	goTool, err := exec.LookPath("go")
	if err != nil {
		t.Fatalf("the go command is needed to build the hello world: %v", err)
	}
	root, err := filepath.Abs("..")
	if err != nil {
		t.Fatal(err)
	}
	goDirective := goLine(t, filepath.Join(root, "go.mod"))
	dir := t.TempDir()
	mod := "module example.com/hello\n\n" + goDirective + "\n\n" +
		"require github.com/sentstub/sentstub v0.0.0-00010101000000-000000000000\n\n" +
		"replace github.com/sentstub/sentstub => " + strconv.Quote(root) + "\n"
	writeFile(t, filepath.Join(dir, "go.mod"), []byte(mod))
	// This module's go.sum has every checksum the hello world can need, so
	// nothing is looked up; GOPROXY=off keeps the test off the network
	// (everything is in the module cache once this module builds).
	writeFile(t, filepath.Join(dir, "go.sum"), readFile(t, filepath.Join(root, "go.sum")))
	writeFile(t, filepath.Join(dir, "main.go"), readFile(t, filepath.Join("testdata", "hello", "main.go")))

	run := func(args ...string) string {
		t.Helper()
		cmd := exec.Command(goTool, args...)
		cmd.Dir = dir
		cmd.Env = append(os.Environ(), "GOPROXY=off", "GOWORK=off", "GOTOOLCHAIN=local", "GOFLAGS=-mod=mod")
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("go %s: %v\n%s", strings.Join(args, " "), err, out)
		}
		return string(out)
	}
	run("mod", "tidy", "-e") // -e: report what a server dependency would pull in below, not fail here
	run("build", "-o", filepath.Join(dir, "hello"), ".")

	// go.mod, as tidy leaves it: what the user's go.mod would list.
	var required []string
	inRequire := false
	for line := range strings.Lines(string(readFile(t, filepath.Join(dir, "go.mod")))) {
		f := strings.Fields(line)
		switch {
		case len(f) == 0:
		case f[0] == "require" && len(f) > 1 && f[1] == "(":
			inRequire = true
		case f[0] == ")":
			inRequire = false
		case f[0] == "require":
			required = append(required, f[1])
		case inRequire:
			required = append(required, f[0])
		}
	}
	checkModules(t, "go.mod after go mod tidy requires", required)

	// The packages the program is built from, and their modules.
	var modules, packages []string
	for line := range strings.Lines(run("list", "-deps", "-f", "{{.ImportPath}} {{with .Module}}{{.Path}}{{end}}", ".")) {
		f := strings.Fields(line)
		if len(f) < 2 || f[1] == "example.com/hello" {
			continue // the standard library, and the program itself
		}
		packages = append(packages, f[0])
		if !slices.Contains(modules, f[1]) {
			modules = append(modules, f[1])
		}
	}
	checkModules(t, "go list -deps builds with", modules)
	for _, p := range packages {
		if strings.HasPrefix(p, "github.com/sentstub/sentstub/") && !slices.Contains(clientPackages, p) {
			t.Errorf("the hello world builds with %s; a program using package client may only build with %q of this module", p, clientPackages)
		}
	}
	for _, p := range clientPackages {
		if !slices.Contains(packages, p) {
			t.Errorf("the hello world does not build with %s: the test no longer builds what it means to", p)
		}
	}
	t.Logf("the hello world builds with %d packages outside the standard library, from the modules %q", len(packages), modules)
}

// checkModules fails for every module outside clientModules, naming the
// server's modules as such.
func checkModules(t *testing.T, what string, modules []string) {
	t.Helper()
	for _, m := range modules {
		switch {
		case slices.ContainsFunc(serverModules, func(s string) bool { return strings.HasPrefix(m, s) }):
			t.Errorf("%s %s, a module of the server's", what, m)
		case !slices.Contains(clientModules, m):
			t.Errorf("%s %s; a program using package client may only need %q", what, m, clientModules)
		}
	}
	if !slices.Contains(modules, "github.com/sentstub/sentstub") {
		t.Errorf("%s %q, without github.com/sentstub/sentstub", what, modules)
	}
}

// goLine returns the go directive of the go.mod file at path.
func goLine(t *testing.T, path string) string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	s := bufio.NewScanner(f)
	for s.Scan() {
		if strings.HasPrefix(s.Text(), "go ") {
			return s.Text()
		}
	}
	t.Fatalf("%s has no go directive", path)
	return ""
}

func readFile(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func writeFile(t *testing.T, path string, b []byte) {
	t.Helper()
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
}
