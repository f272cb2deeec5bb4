package main

import (
	"strings"
	"testing"
)

const module = "github.com/sentstub/sentstub"

func events(lines ...string) string { return strings.Join(lines, "\n") + "\n" }

func TestReportPassesAndListsSkips(t *testing.T) {
	in := events(
		`{"Action":"start","Package":"`+module+`/store"}`,
		`{"Action":"run","Package":"`+module+`/store","Test":"TestPostgres"}`,
		`{"Action":"output","Package":"`+module+`/store","Test":"TestPostgres","Output":"=== RUN   TestPostgres\n"}`,
		`{"Action":"output","Package":"`+module+`/store","Test":"TestPostgres","Output":"    postgres_test.go:12: PostgreSQL not installed\n"}`,
		`{"Action":"output","Package":"`+module+`/store","Test":"TestPostgres","Output":"--- SKIP: TestPostgres (0.00s)\n"}`,
		`{"Action":"skip","Package":"`+module+`/store","Test":"TestPostgres"}`,
		`{"Action":"run","Package":"`+module+`/store","Test":"TestPostgresToo"}`,
		`{"Action":"output","Package":"`+module+`/store","Test":"TestPostgresToo","Output":"    other_test.go:99: PostgreSQL not installed\n"}`,
		`{"Action":"skip","Package":"`+module+`/store","Test":"TestPostgresToo"}`,
		`{"Action":"run","Package":"`+module+`/store","Test":"TestSQLite"}`,
		`{"Action":"output","Package":"`+module+`/store","Test":"TestSQLite","Output":"    sqlite_test.go:1: a log line\n"}`,
		`{"Action":"pass","Package":"`+module+`/store","Test":"TestSQLite"}`,
		`{"Action":"output","Package":"`+module+`/store","Output":"PASS\n"}`,
		`{"Action":"output","Package":"`+module+`/store","Output":"ok  \t`+module+`/store\t0.1s\n"}`,
		`{"Action":"pass","Package":"`+module+`/store"}`,
		`{"Action":"output","Package":"`+module+`/gen","Output":"?   \t`+module+`/gen\t[no test files]\n"}`,
		`{"Action":"skip","Package":"`+module+`/gen"}`,
	)
	var out strings.Builder
	if !report(strings.NewReader(in), &out) {
		t.Errorf("report = false for a run without failures")
	}
	want := "ok  \t" + module + "/store\t0.1s\n?   \t" + module + "/gen\t[no test files]\n" +
		"\nSKIPPED: 2 tests did not run, and count as passed:\n  store TestPostgres, store TestPostgresToo\n    PostgreSQL not installed\n"
	if out.String() != want {
		t.Errorf("report wrote\n%s\nwant\n%s", out.String(), want)
	}
}

func TestReportFails(t *testing.T) {
	for name, in := range map[string]string{
		"a failed test": events(
			`{"Action":"run","Package":"`+module+`/server","Test":"TestX"}`,
			`{"Action":"output","Package":"`+module+`/server","Test":"TestX","Output":"    x_test.go:3: broken\n"}`,
			`{"Action":"output","Package":"`+module+`/server","Test":"TestX","Output":"--- FAIL: TestX (0.00s)\n"}`,
			`{"Action":"fail","Package":"`+module+`/server","Test":"TestX"}`,
			`{"Action":"output","Package":"`+module+`/server","Output":"FAIL\n"}`,
			`{"Action":"fail","Package":"`+module+`/server"}`,
		),
		"a failed build": events(
			`{"ImportPath":"`+module+`/server","Action":"build-output","Output":"server/x.go:1:1: syntax error\n"}`,
			`{"ImportPath":"`+module+`/server","Action":"build-fail"}`,
			`{"Action":"fail","Package":"`+module+`/server"}`,
		),
		"no results": "go: cannot find main module\n",
	} {
		var out strings.Builder
		if report(strings.NewReader(in), &out) {
			t.Errorf("%s: report = true", name)
		}
		if name == "a failed test" && !strings.Contains(out.String(), "x_test.go:3: broken\n--- FAIL: TestX") {
			t.Errorf("%s: the failed test's output is not shown:\n%s", name, out.String())
		}
		if name == "a failed build" && !strings.Contains(out.String(), "syntax error") {
			t.Errorf("%s: the build's output is not shown:\n%s", name, out.String())
		}
	}
}
