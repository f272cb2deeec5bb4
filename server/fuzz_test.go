package server_test

import (
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/sentstub/sentstub"
	"github.com/sentstub/sentstub/internal/contract"
	"github.com/sentstub/sentstub/server"
	"github.com/sentstub/sentstub/store/storetest"
)

// Bits of FuzzToggleRequest's repeat argument: which headers the request
// sends twice.
const (
	repeatAPIKey = 1 << iota
	repeatProfile
	repeatIdempotencyKey
)

// FuzzToggleRequest sends arbitrary ids, bodies and headers down the whole
// request path, some headers twice. Whatever arrives, the answer is never a
// 5xx and always what the spec allows; a body that is not exactly one JSON
// value, or a repeated header, is refused; and a refused request changes
// nothing. The seed corpus runs in every `go test`.
func FuzzToggleRequest(f *testing.F) {
	for _, seed := range []struct {
		id, body, contentType, key, profile string
		repeat                              uint8
	}{
		{orderID, `{"is_active":false,"sandbox":false}`, "application/json", "req_abc123_retry1", "", 0},
		{orderID, `{}`, "application/json", "", "", 0},
		{orderID, ``, "", "", "", 0},
		{orderID, `{"is_active":null}`, "application/json", "", "", 0},
		{orderID, `{"sandbox":true}`, "application/json; charset=utf-8", "", "", 0},
		{"not-a-uuid", `{"is_active":true}`, "application/json", "", "", 0},
		{strings.ToUpper(orderID), `[1,2]`, "application/json", "a b", "zz", 0},
		{euID, `{"is_active":"x"}`, "text/plain", "", storetest.AcmeEUProfileID, 0},
		{globexID, `{"is_active":true,"unknown":{"deep":[1]}}`, "application/json", strings.Repeat("k", 300), "", 0},
		{"%00", "\x00\xff", "application/json", "ключ", "\x7f", 0},
		{orderID + "/../x", `{"is_active":1e400}`, "application/json", "", "", 0},
		// Data after the JSON value.
		{orderID, `{"is_active":false} garbage`, "application/json", "", "", 0},
		{orderID, `{"is_active":false}{"is_active":true}`, "application/json", "k-trailing", "", 0},
		{orderID, "{}\n\x00", "application/json", "", "", 0},
		{orderID, ` {"is_active":false} ` + "\r\n", "application/json", "", "", 0},
		// Repeated headers.
		{orderID, `{"is_active":false}`, "application/json", "", "", repeatAPIKey},
		{euID, `{}`, "application/json", "", storetest.AcmeEUProfileID, repeatProfile},
		{orderID, `{}`, "application/json", "k-repeated", "", repeatIdempotencyKey},
		{"nope", `{} x`, "application/json", "bad key", "zz", repeatAPIKey | repeatProfile | repeatIdempotencyKey},
	} {
		f.Add(seed.id, seed.body, seed.contentType, seed.key, seed.profile, seed.repeat)
	}
	st := storetest.MustOpenSQLitePath(f, ":memory:")
	storetest.MustProvisionDemo(f, st, time.Now())
	srv, err := server.New(server.Config{Store: st, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		f.Fatal(err)
	}
	contract.Document(f)
	f.Fuzz(func(t *testing.T, id, body, contentType, key, profile string, repeat uint8) {
		req, err := http.NewRequest(http.MethodPatch, "http://stub/v3/webhooks/"+id+"/toggle-status", strings.NewReader(body))
		if err != nil {
			t.Skip("not a request URL")
		}
		set := func(name, v string, twice bool) {
			if v != "" || twice {
				req.Header[http.CanonicalHeaderKey(name)] = []string{v}
			}
			if twice {
				req.Header[http.CanonicalHeaderKey(name)] = append(req.Header[http.CanonicalHeaderKey(name)], v)
			}
		}
		set("x-api-key", storetest.AcmeOrgKey, repeat&repeatAPIKey != 0)
		set("Content-Type", contentType, false)
		set("Idempotency-Key", key, repeat&repeatIdempotencyKey != 0)
		set("x-profile-id", profile, repeat&repeatProfile != 0)
		before := demoWebhooks(t, st)
		rec := httptest.NewRecorder()
		srv.ServeHTTP(rec, req)
		if rec.Code >= 500 {
			t.Fatalf("%s %q answered %d: %s", req.URL, body, rec.Code, rec.Body)
		}
		if err := contract.Check(req, []byte(body), rec.Code, rec.Header(), rec.Body.Bytes()); err != nil {
			t.Fatalf("%s %q answered %d, which the spec does not allow: %v\n%s", req.URL, body, rec.Code, err, rec.Body)
		}
		ok := rec.Code >= 200 && rec.Code < 300
		if ok && body != "" && !json.Valid([]byte(body)) {
			t.Fatalf("a body that is not one JSON value, %q, answered %d: %s", body, rec.Code, rec.Body)
		}
		if ok && repeat&(repeatAPIKey|repeatProfile|repeatIdempotencyKey) != 0 {
			t.Fatalf("a request with a repeated header (%b) answered %d: %s", repeat, rec.Code, rec.Body)
		}
		if repeat&repeatAPIKey != 0 && rec.Code != http.StatusBadRequest {
			t.Fatalf("a request with two x-api-key answered %d, want 400: %s", rec.Code, rec.Body)
		}
		if !ok {
			for i, w := range demoWebhooks(t, st) {
				if w.IsActive != before[i].IsActive || !w.UpdatedAt.Equal(*before[i].UpdatedAt) {
					t.Fatalf("a request answered %d changed webhook %s: %+v", rec.Code, w.ID, w)
				}
			}
		}
	})
}

// demoWebhooks reads the demo fixture's webhooks.
func demoWebhooks(t *testing.T, st sentstub.Store) []*sentstub.Webhook {
	t.Helper()
	var ws []*sentstub.Webhook
	for _, w := range []struct{ owner, id string }{
		{storetest.AcmeOrgID, orderID}, {storetest.AcmeOrgID, receiptsID},
		{storetest.AcmeEUProfileID, euID}, {storetest.GlobexOrgID, globexID},
	} {
		got, err := st.FindWebhook(context.Background(), uuid.MustParse(w.owner), uuid.MustParse(w.id))
		if err != nil {
			t.Fatal(err)
		}
		ws = append(ws, got)
	}
	return ws
}
