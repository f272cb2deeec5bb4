# sentstub: see README.md. `make test` is what CI runs.
GO      ?= go
PKGS    := ./...
BIN     := bin/sentstub
DOCKER  ?= docker
IMAGE   ?= sentstub:dev
# The commit --version reports when the build information has none (a git
# worktree, GOFLAGS=-buildvcs=false, the image's build context without .git).
COMMIT  := $(shell git rev-parse HEAD 2>/dev/null)
LDFLAGS := -X github.com/sentstub/sentstub/server.buildCommit=$(COMMIT)
# A private copy of the generator, built from the version go.mod pins.
OAPI    := $(GO) run github.com/oapi-codegen/oapi-codegen/v2/cmd/oapi-codegen

.PHONY: all help generate check-generated build run test bench lint fmt docker clean

## all: lint, test and build
all: lint test build

## help: list the targets, each with what it does
help:
	@sed -n 's/^## \([a-zA-Z_-]*\): \(.*\)/\1\t\2/p' $(firstword $(MAKEFILE_LIST)) | \
		awk -F '\t' '{ printf "  make %-16s %s\n", $$1, $$2 }'

## generate: regenerate gen/ (the server's package) and gen/client/ (the client's) from api/openapi.yaml
generate:
	$(GO) generate ./gen/...

## check-generated: fail when gen/ or gen/client/ is not exactly what the generator makes of api/openapi.yaml
check-generated:
	@tmp=$$(mktemp -d) && trap 'rm -rf "$$tmp"' EXIT && \
	mkdir -p "$$tmp/api" "$$tmp/gen/client" && \
	cp api/openapi.yaml "$$tmp/api/" && cp gen/config.yaml gen/generate.go "$$tmp/gen/" && \
	cp gen/client/config.yaml gen/client/generate.go "$$tmp/gen/client/" && \
	$(GO) build -o "$$tmp/oapi-codegen" github.com/oapi-codegen/oapi-codegen/v2/cmd/oapi-codegen && \
	(cd "$$tmp/gen" && "$$tmp/oapi-codegen" -config config.yaml ../api/openapi.yaml) && \
	(cd "$$tmp/gen/client" && "$$tmp/oapi-codegen" -config config.yaml ../../api/openapi.yaml) && \
	if ! diff -ru "$$tmp/gen" gen; then \
		echo "gen/ differs from what api/openapi.yaml generates: run 'make generate' and commit the result" >&2; exit 1; \
	fi && \
	untracked=$$(git ls-files --others --exclude-standard -- gen api 2>/dev/null) && \
	if [ -n "$$untracked" ]; then echo "untracked files in gen/ or api/: $$untracked" >&2; exit 1; fi && \
	echo "gen/ matches api/openapi.yaml"

## build: the sentstub binary in bin/
build:
	$(GO) build -ldflags '$(LDFLAGS)' -o $(BIN) ./cmd/sentstub

## run: serve the demo fixture on 127.0.0.1:8080, keeping state in ./sentstub.db
run:
	$(GO) run ./cmd/sentstub

## test: generated code check, vet, and every test with the race detector; lists the tests that skipped, and why
test: check-generated lint
	@tmp=$$(mktemp -d) && trap 'rm -rf "$$tmp"' EXIT && \
	$(GO) build -o "$$tmp/testreport" ./internal/testreport && \
	echo "$(GO) test -race -count=1 $(PKGS)" && \
	$(GO) test -race -count=1 -json $(PKGS) | "$$tmp/testreport"

## bench: the in-process pipeline, the idempotency store with a million keys, SQLite's cost of a second page, loopback round trips and throughput
bench:
	$(GO) test -run '^$$' -bench 'Toggle|Retrieve|List20' -benchmem -count 3 ./server/
	$(GO) test -run '^$$' -bench 'Deliveries' -benchtime 3000x -count 2 ./server/
	$(GO) test -run '^$$' -bench 'KeyedToggle|SQLitePages' -benchmem -count 1 ./store/
	$(GO) test -run '^$$' -bench 'RoundTrip' -count 3 ./server/
	$(GO) test -run '^$$' -bench 'Loopback' -benchtime 1x -count 1 ./server/

## lint: gofmt and go vet
lint:
	@unformatted=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
	if [ -n "$$unformatted" ]; then echo "gofmt would change: $$unformatted" >&2; exit 1; fi
	$(GO) vet $(PKGS)

## fmt: gofmt every Go file in place
fmt:
	gofmt -w $$(git ls-files '*.go')

## docker: build the container image sentstub:dev from the Dockerfile (needs a running Docker engine)
docker:
	@command -v $(DOCKER) >/dev/null 2>&1 || { echo "make docker: there is no $(DOCKER) command here; install Docker, or check the image's binary alone: CGO_ENABLED=0 go build ./cmd/sentstub (see README.md, Container image)" >&2; exit 1; }
	@$(DOCKER) info >/dev/null 2>&1 || { echo "make docker: $(DOCKER) is installed but no Docker engine answers ($(DOCKER) info failed); start the engine (dockerd) or point DOCKER_HOST at one, then run make docker again" >&2; exit 1; }
	$(DOCKER) build --build-arg COMMIT=$(COMMIT) -t $(IMAGE) .

## clean: delete bin/
clean:
	rm -rf bin
