// Command testreport reads `go test -json` on standard input and writes
// what `go test` writes without -json (each package's result line, and the
// output of every test that failed), then lists the tests that were
// skipped, each with the reason it gave. A skipped test passes, so `make
// test` shows them where they cannot be missed:
//
//	go test -json ./... | go run ./internal/testreport
//
// It exits with status 1 when a test or a build failed, or when the input
// holds no package result at all (go test could not run).
package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"regexp"
	"sort"
	"strings"
)

func main() {
	if !report(os.Stdin, os.Stdout) {
		os.Exit(1)
	}
}

// event is one line of `go test -json` (cmd/test2json).
type event struct {
	Action  string
	Package string
	Test    string
	Output  string
}

type testID struct{ pkg, test string }

// framing matches the lines go test -v adds around a test's own output.
var framing = regexp.MustCompile(`^\s*(=== (RUN|PAUSE|CONT|NAME)|--- (PASS|SKIP))\b`)

// report copies r's results to w and reports whether everything passed.
func report(r io.Reader, w io.Writer) bool {
	outputs := map[testID][]string{} // the output of each test still running
	skipped := map[string][]string{} // reason -> the tests that gave it
	packages, failed := 0, false
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 1<<20), 64<<20)
	for sc.Scan() {
		var e event
		if err := json.Unmarshal(sc.Bytes(), &e); err != nil {
			fmt.Fprintln(w, sc.Text()) // not an event: pass it on
			continue
		}
		id := testID{e.Package, e.Test}
		switch {
		case e.Action == "build-output":
			io.WriteString(w, e.Output)
		case e.Action == "build-fail":
			failed = true
		case e.Test == "" && e.Action == "output":
			if e.Output != "PASS\n" {
				io.WriteString(w, e.Output)
			}
		case e.Test == "" && (e.Action == "pass" || e.Action == "fail" || e.Action == "skip"):
			packages++
			if e.Action == "fail" {
				failed = true
				// Tests the package's end cut short (a crash, a timeout).
				for id, out := range outputs {
					if id.pkg == e.Package {
						io.WriteString(w, strings.Join(out, ""))
						delete(outputs, id)
					}
				}
			}
		case e.Action == "output":
			outputs[id] = append(outputs[id], e.Output)
		case e.Action == "fail":
			io.WriteString(w, strings.Join(outputs[id], ""))
			delete(outputs, id)
		case e.Action == "skip":
			reason := skipReason(outputs[id])
			skipped[reason] = append(skipped[reason], shortPackage(e.Package)+" "+e.Test)
			delete(outputs, id)
		case e.Action == "pass":
			delete(outputs, id)
		}
	}
	if err := sc.Err(); err != nil {
		fmt.Fprintf(w, "testreport: reading go test -json: %v\n", err)
		return false
	}
	if len(skipped) > 0 {
		reasons := make([]string, 0, len(skipped))
		for reason := range skipped {
			reasons = append(reasons, reason)
		}
		sort.Strings(reasons)
		n := 0
		for _, tests := range skipped {
			n += len(tests)
		}
		fmt.Fprintf(w, "\nSKIPPED: %d tests did not run, and count as passed:\n", n)
		for _, reason := range reasons {
			tests := skipped[reason]
			fmt.Fprintf(w, "  %s\n    %s\n", strings.Join(tests, ", "), reason)
		}
	}
	if packages == 0 {
		fmt.Fprintln(w, "testreport: go test reported no package result")
		return false
	}
	return !failed
}

// location is the file:line a test's log line starts with.
var location = regexp.MustCompile(`^\s*\S+\.go:\d+: `)

// skipReason is what a skipped test logged, without go test's framing or
// the file and line of each message, so that tests skipped by one helper
// share their reason.
func skipReason(output []string) string {
	var lines []string
	for _, out := range output {
		for _, line := range strings.Split(strings.TrimRight(out, "\n"), "\n") {
			if framing.MatchString(line) || strings.TrimSpace(line) == "" {
				continue
			}
			lines = append(lines, strings.TrimSpace(location.ReplaceAllString(line, "")))
		}
	}
	if len(lines) == 0 {
		return "(no reason given)"
	}
	return strings.Join(lines, " / ")
}

// shortPackage drops the module path from a package's import path.
func shortPackage(pkg string) string {
	if rest, ok := strings.CutPrefix(pkg, "github.com/sentstub/sentstub/"); ok {
		return rest
	}
	if pkg == "github.com/sentstub/sentstub" {
		return "."
	}
	return pkg
}
