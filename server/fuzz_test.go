package server_test

import (
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/sentstub/sentstub/internal/contract"
	"github.com/sentstub/sentstub/server"
	"github.com/sentstub/sentstub/store/storetest"
)

// FuzzToggleRequest sends arbitrary ids, bodies and headers down the whole
// request path. Whatever arrives, the answer is never a 5xx and always what
// the spec allows. The seed corpus runs in every `go test`.
func FuzzToggleRequest(f *testing.F) {
	for _, seed := range []struct{ id, body, contentType, key, profile string }{
		{orderID, `{"is_active":false,"sandbox":false}`, "application/json", "req_abc123_retry1", ""},
		{orderID, `{}`, "application/json", "", ""},
		{orderID, ``, "", "", ""},
		{orderID, `{"is_active":null}`, "application/json", "", ""},
		{orderID, `{"sandbox":true}`, "application/json; charset=utf-8", "", ""},
		{"not-a-uuid", `{"is_active":true}`, "application/json", "", ""},
		{strings.ToUpper(orderID), `[1,2]`, "application/json", "a b", "zz"},
		{euID, `{"is_active":"x"}`, "text/plain", "", storetest.AcmeEUProfileID},
		{globexID, `{"is_active":true,"unknown":{"deep":[1]}}`, "application/json", strings.Repeat("k", 300), ""},
		{"%00", "\x00\xff", "application/json", "ключ", "\x7f"},
		{orderID + "/../x", `{"is_active":1e400}`, "application/json", "", ""},
	} {
		f.Add(seed.id, seed.body, seed.contentType, seed.key, seed.profile)
	}
	st := storetest.MustOpenSQLitePath(f, ":memory:")
	storetest.MustProvisionDemo(f, st, time.Now())
	srv, err := server.New(server.Config{Store: st, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		f.Fatal(err)
	}
	contract.Document(f)
	f.Fuzz(func(t *testing.T, id, body, contentType, key, profile string) {
		req, err := http.NewRequest(http.MethodPatch, "http://stub/v3/webhooks/"+id+"/toggle-status", strings.NewReader(body))
		if err != nil {
			t.Skip("not a request URL")
		}
		req.Header.Set("x-api-key", storetest.AcmeOrgKey)
		for name, v := range map[string]string{"Content-Type": contentType, "Idempotency-Key": key, "x-profile-id": profile} {
			if v != "" {
				req.Header[http.CanonicalHeaderKey(name)] = []string{v}
			}
		}
		rec := httptest.NewRecorder()
		srv.ServeHTTP(rec, req)
		if rec.Code >= 500 {
			t.Fatalf("%s %q answered %d: %s", req.URL, body, rec.Code, rec.Body)
		}
		if err := contract.Check(req, []byte(body), rec.Code, rec.Header(), rec.Body.Bytes()); err != nil {
			t.Fatalf("%s %q answered %d, which the spec does not allow: %v\n%s", req.URL, body, rec.Code, err, rec.Body)
		}
	})
}
