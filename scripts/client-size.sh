#!/usr/bin/env bash
# client-size.sh: how much package client adds to a program. It builds two
# hello worlds that make the same toggle call, client/testdata/hello (with
# package client) and client/testdata/hello-nethttp (net/http and
# encoding/json alone), each in a module of its own as a user would (this
# checkout through a replace directive, tidied with go mod tidy), with
# plain `go build` and with `go build -ldflags='-s -w'` (no symbol table,
# no DWARF), and prints their sizes and the ratio client / net/http.
#
# It exits 1 when a ratio is over the target of issue 13, 1.10. It is not
# part of `make test` (no test asserts a size); README.md quotes its output.
#
# Usage: scripts/client-size.sh            (from anywhere in the checkout)
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
target=1.10
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

godirective=$(grep -m1 '^go ' "$root/go.mod")
for prog in hello hello-nethttp; do
	dir="$tmp/$prog"
	mkdir -p "$dir"
	cp "$root/client/testdata/$prog/main.go" "$dir/"
	if [ "$prog" = hello ]; then
		cp "$root/go.sum" "$dir/"
		printf 'module example.com/%s\n\n%s\n\nrequire github.com/sentstub/sentstub v0.0.0-00010101000000-000000000000\n\nreplace github.com/sentstub/sentstub => "%s"\n' \
			"$prog" "$godirective" "$root" >"$dir/go.mod"
	else
		printf 'module example.com/%s\n\n%s\n' "$prog" "$godirective" >"$dir/go.mod"
	fi
	(cd "$dir" && GOWORK=off GOFLAGS=-mod=mod go mod tidy &&
		GOWORK=off go build -o "$tmp/$prog.default" . &&
		GOWORK=off go build -ldflags='-s -w' -o "$tmp/$prog.stripped" .)
done

size() { wc -c <"$1" | tr -d ' '; }
echo "$(go version), $(cd "$root" && git rev-parse --short HEAD 2>/dev/null || echo 'no commit')"
printf '%-28s %14s %14s %8s\n' build 'with client' 'net/http' ratio
fail=0
for build in default stripped; do
	c=$(size "$tmp/hello.$build")
	s=$(size "$tmp/hello-nethttp.$build")
	ratio=$(awk -v c="$c" -v s="$s" 'BEGIN { printf "%.3f", c / s }')
	label="go build"
	[ "$build" = stripped ] && label="go build -ldflags='-s -w'"
	printf '%-28s %14s %14s %8s\n' "$label" "$c" "$s" "${ratio}x"
	if awk -v r="$ratio" -v t="$target" 'BEGIN { exit !(r > t) }'; then fail=1; fi
done
echo "modules of the client's hello world (go version -m):"
go version -m "$tmp/hello.default" | awk '$1 == "dep" { print "  " $2, $3 }'
if [ "$fail" = 1 ]; then
	echo "client-size: a ratio is over the target of ${target}x" >&2
	exit 1
fi
