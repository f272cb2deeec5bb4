# syntax=docker/dockerfile:1
#
# The sentstub image: a static binary (CGO_ENABLED=0 works because
# modernc.org/sqlite is pure Go) on distroless/static, run as a non-root
# user (65532), serving on 0.0.0.0:8080 with its SQLite database on the
# volume /data. Every flag can be set with its SENTSTUB_* variable.
#
#   make docker
#   docker run --rm -p 8080:8080 -v sentstub-data:/data sentstub:dev
#
# cmd/sentstub/docker_test.go builds the binary as the build stage does and
# runs it as the runtime stage would.

FROM golang:1.26 AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
# The commit to report in --version: .git is not in the build context.
ARG COMMIT=""
RUN CGO_ENABLED=0 go build -trimpath -buildvcs=false \
        -ldflags "-s -w -X github.com/sentstub/sentstub/server.buildCommit=${COMMIT}" \
        -o /out/sentstub ./cmd/sentstub \
    && mkdir -p /out/data

FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/sentstub /usr/local/bin/sentstub
COPY --from=build --chown=65532:65532 /out/data /data
USER 65532:65532
ENV SENTSTUB_ADDR=0.0.0.0:8080 \
    SENTSTUB_DB=/data/sentstub.db
EXPOSE 8080
VOLUME ["/data"]
ENTRYPOINT ["/usr/local/bin/sentstub"]
