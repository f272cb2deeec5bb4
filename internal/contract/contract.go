// Package contract checks HTTP responses against api/openapi.yaml, so that
// the spec and the server cannot drift: every test that talks HTTP to
// sentstub sends its requests through Transport, and any response the
// document does not allow fails the test.
package contract

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"sync"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"
	"github.com/getkin/kin-openapi/routers/gorillamux"

	"github.com/sentstub/sentstub/api"
)

var (
	loadOnce sync.Once
	doc      *openapi3.T
	router   routers.Router
	loadErr  error
)

// Document returns api/openapi.yaml, loaded and prepared once per process.
func Document(tb testing.TB) *openapi3.T {
	tb.Helper()
	loadOnce.Do(func() {
		if doc, loadErr = api.Load(context.Background()); loadErr != nil {
			return
		}
		router, loadErr = gorillamux.NewRouter(doc)
	})
	if loadErr != nil {
		tb.Fatalf("contract: load api/openapi.yaml: %v", loadErr)
	}
	return doc
}

// Transport wraps base (http.DefaultTransport when nil) so that every
// response is checked against the document; a violation is reported with
// tb.Errorf, naming the request and the response.
func Transport(tb testing.TB, base http.RoundTripper) http.RoundTripper {
	tb.Helper()
	Document(tb)
	if base == nil {
		base = http.DefaultTransport
	}
	return &transport{tb: tb, base: base}
}

// Client is an *http.Client whose responses are checked against the document.
func Client(tb testing.TB) *http.Client {
	tb.Helper()
	return &http.Client{Transport: Transport(tb, nil)}
}

type transport struct {
	tb   testing.TB
	base http.RoundTripper
}

func (t *transport) RoundTrip(req *http.Request) (*http.Response, error) {
	var reqBody []byte
	if req.Body != nil && req.Body != http.NoBody {
		var err error
		if reqBody, err = io.ReadAll(req.Body); err != nil {
			return nil, err
		}
		req.Body.Close()
		req.Body = io.NopCloser(bytes.NewReader(reqBody))
	}
	resp, err := t.base.RoundTrip(req)
	if err != nil {
		return resp, err
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		return nil, err
	}
	resp.Body = io.NopCloser(bytes.NewReader(body))
	if err := Check(req, reqBody, resp.StatusCode, resp.Header, body); err != nil {
		t.tb.Errorf("contract: %s %s answered %d, which api/openapi.yaml does not allow:\n%v\nbody: %s",
			req.Method, req.URL.RequestURI(), resp.StatusCode, err, body)
	}
	return resp, nil
}

// Check validates one response against the document. Responses of
// documented operations are validated with openapi3filter.ValidateResponse,
// statuses, headers and bodies included; responses to requests no operation
// matches (unknown paths, wrong methods) must be the error envelope. On top
// of the schemas it checks what they cannot say: X-Request-Id equals
// meta.request_id, except on a replay, where X-Original-Request-Id does.
// Document must have been called first.
func Check(req *http.Request, reqBody []byte, status int, header http.Header, body []byte) error {
	if doc == nil {
		return fmt.Errorf("contract: document not loaded")
	}
	opts := doc.GetSchemaValidationOptions()
	// The request as the server saw it, with a fresh body, for routing.
	r := req.Clone(context.Background())
	r.Body = io.NopCloser(bytes.NewReader(reqBody))
	route, params, routeErr := router.FindRoute(r)
	if routeErr == nil {
		input := &openapi3filter.ResponseValidationInput{
			RequestValidationInput: &openapi3filter.RequestValidationInput{Request: r, PathParams: params, Route: route},
			Status:                 status,
			Header:                 header,
			Options: &openapi3filter.Options{
				IncludeResponseStatus:   true,
				MultiError:              true,
				SchemaValidationOptions: opts,
			},
		}
		input.SetBodyBytes(body)
		if err := openapi3filter.ValidateResponse(context.Background(), input); err != nil {
			return err
		}
		if route.Path == "/healthz" || route.Path == "/readyz" || route.Path == "/metrics" {
			return nil
		}
		if status == http.StatusNoContent {
			if len(body) > 0 {
				return fmt.Errorf("a 204 answer has a body")
			}
			if header.Get("X-Request-Id") == "" {
				return fmt.Errorf("header X-Request-Id is missing")
			}
			return nil
		}
	} else {
		var v any
		if err := json.Unmarshal(body, &v); err != nil {
			return fmt.Errorf("an answer outside the document's operations must be the JSON error envelope: %w", err)
		}
		if err := doc.Components.Schemas["ErrorResponse"].Value.VisitJSON(v, append(opts, openapi3.MultiErrors())...); err != nil {
			return fmt.Errorf("an answer outside the document's operations must be the error envelope: %w", err)
		}
		for _, h := range []string{"X-Request-Id", "X-API-Version", "X-Response-Time"} {
			if header.Get(h) == "" {
				return fmt.Errorf("header %s is missing", h)
			}
		}
	}
	return checkRequestIDs(header, body)
}

func checkRequestIDs(header http.Header, body []byte) error {
	var env struct {
		Meta struct {
			RequestID string `json:"request_id"`
		} `json:"meta"`
	}
	if err := json.Unmarshal(body, &env); err != nil {
		return fmt.Errorf("body is not JSON: %w", err)
	}
	id := header.Get("X-Request-Id")
	if header.Get("Idempotent-Replayed") == "true" {
		if orig := header.Get("X-Original-Request-Id"); orig != env.Meta.RequestID {
			return fmt.Errorf("replay: X-Original-Request-Id %q differs from meta.request_id %q", orig, env.Meta.RequestID)
		}
		if id == env.Meta.RequestID {
			return fmt.Errorf("replay: X-Request-Id %q should be the replaying request's own id, not the original's", id)
		}
		return nil
	}
	if id != env.Meta.RequestID {
		return fmt.Errorf("X-Request-Id %q differs from meta.request_id %q", id, env.Meta.RequestID)
	}
	return nil
}
