package server_test

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/sentstub/sentstub/internal/contract"
	"github.com/sentstub/sentstub/internal/testutil"
	"github.com/sentstub/sentstub/server"
	"github.com/sentstub/sentstub/store/storetest"
)

// A body that the client stalls in, ends early or malforms is the client's
// fault: the answer is 408 or 400 in the envelope, never 500, and the log
// has its cause at info level, with the 4xx status, and no error line.
func TestClientFaultsInTheBody(t *testing.T) {
	const readTimeout = 300 * time.Millisecond
	logs := &testutil.SyncBuffer{}
	opts := server.DefaultOptions()
	opts.Addr, opts.DB, opts.ReadTimeout = "127.0.0.1:0", ":memory:", readTimeout
	m, err := server.Start(context.Background(), opts, slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug})))
	if err != nil {
		t.Fatal(err)
	}
	defer shutdown(t, m)
	contract.Document(t)
	path := "/v3/webhooks/" + orderID + "/toggle-status"
	head := fmt.Sprintf("PATCH %s HTTP/1.1\r\nHost: stub\r\nx-api-key: %s\r\nContent-Type: application/json\r\n", path, storetest.AcmeOrgKey)

	for _, tc := range []struct {
		name      string
		request   string
		closeSend bool // the client closes its side once it has sent the request
		status    int
		problem   string
		cause     string
	}{
		{"stalls in the middle of its body", head + "Content-Length: 19\r\n\r\n{\"is_", false,
			http.StatusRequestTimeout, "did not arrive within the server's read timeout", "i/o timeout"},
		{"stalls in the middle of a chunk", head + "Transfer-Encoding: chunked\r\n\r\n13\r\n{\"is_", false,
			http.StatusRequestTimeout, "did not arrive within the server's read timeout", "i/o timeout"},
		{"malformed chunk size", head + "Transfer-Encoding: chunked\r\n\r\nzz\r\n{}\r\n0\r\n\r\n", false,
			http.StatusBadRequest, "could not be read: malformed, or its connection broke", "chunk"},
		{"ends before its Content-Length", head + "Content-Length: 19\r\n\r\n{\"is_", true,
			http.StatusBadRequest, "is shorter than its Content-Length", "unexpected EOF"},
		{"ends before its last chunk", head + "Transfer-Encoding: chunked\r\n\r\n13\r\n{\"is_", true,
			http.StatusBadRequest, "ended before its last chunk", "unexpected EOF"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			conn, err := net.Dial("tcp", m.Addr())
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()
			conn.SetDeadline(time.Now().Add(10 * time.Second))
			if _, err := io.WriteString(conn, tc.request); err != nil {
				t.Fatal(err)
			}
			if tc.closeSend {
				conn.(*net.TCPConn).CloseWrite()
			}
			req, _ := http.NewRequest(http.MethodPatch, m.URL()+path, nil)
			req.Header.Set("Content-Type", "application/json")
			res, err := http.ReadResponse(bufio.NewReader(conn), req)
			if err != nil {
				t.Fatalf("no answer: %v", err)
			}
			body, _ := io.ReadAll(res.Body)
			res.Body.Close()
			if err := contract.Check(req, nil, res.StatusCode, res.Header, body); err != nil {
				t.Errorf("answered %d, which the spec does not allow: %v\n%s", res.StatusCode, err, body)
			}
			var env envelope
			if err := json.Unmarshal(body, &env); err != nil {
				t.Fatalf("answered %d, not the envelope: %v\n%s", res.StatusCode, err, body)
			}
			r := response{Status: res.StatusCode, Header: res.Header, Body: body, Env: env}
			wantError(t, r, tc.status, "VALIDATION_001", "")
			if got := strings.Join(env.Error.Details["body"], "|"); got != tc.problem {
				t.Errorf("details.body = %q, want %q", got, tc.problem)
			}

			var access, cause bool
			for _, line := range strings.Split(strings.TrimSpace(logs.String()), "\n") {
				var l map[string]any
				if err := json.Unmarshal([]byte(line), &l); err != nil {
					t.Fatalf("log line is not JSON: %s", line)
				}
				if l["request_id"] != env.Meta.RequestID {
					continue
				}
				if l["level"] != "INFO" {
					t.Errorf("logged at %v: %s", l["level"], line)
				}
				switch l["msg"] {
				case "request":
					access = l["status"] == float64(tc.status)
				case "request refused":
					cause = l["status"] == float64(tc.status) && strings.Contains(fmt.Sprint(l["error"]), tc.cause)
				}
			}
			if !access || !cause {
				t.Errorf("the log lacks an access line with status %d or a line with the cause %q:\n%s", tc.status, tc.cause, logs.String())
			}
		})
	}
}
