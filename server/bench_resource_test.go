package server_test

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/sentstub/sentstub"
	"github.com/sentstub/sentstub/store/storetest"
)

// BenchmarkRetrieve is one GET /v3/webhooks/{id} through the whole
// in-process pipeline (the SQLite store answers it from its cache).
func BenchmarkRetrieve(b *testing.B) {
	benchGET(b, newBenchServer(b, "file"), "/v3/webhooks/"+orderID)
}

// BenchmarkList20 is one GET /v3/webhooks answering a page of 20 webhooks
// of an account that has 20, newest first, with the totals.
func BenchmarkList20(b *testing.B) {
	st := storetest.MustOpenSQLite(b)
	storetest.MustProvisionDemo(b, st, time.Now())
	owner := uuid.MustParse(storetest.AcmeOrgID)
	for i := range 18 { // and the fixture's two
		w, err := sentstub.NewWebhook(owner, sentstub.WebhookSettings{DisplayName: ptr(fmt.Sprintf("hook %d", i)),
			EndpointURL: ptr("https://example.com/hooks"), EventTypes: &[]string{"message", "templates"}}, time.Now())
		if err != nil {
			b.Fatal(err)
		}
		if err := st.CreateWebhook(context.Background(), w); err != nil {
			b.Fatal(err)
		}
	}
	srv := newServerOver(b, st)
	benchGET(b, srv, "/v3/webhooks?page=1&page_size=20")
}

func ptr[T any](v T) *T { return &v }

func benchGET(b *testing.B, srv http.Handler, path string) {
	w := &bodyWriter{h: http.Header{}}
	b.ReportAllocs()
	for b.Loop() {
		req, _ := http.NewRequest(http.MethodGet, "http://stub"+path, nil)
		req.Header.Set("x-api-key", storetest.AcmeOrgKey)
		clear(w.h)
		w.body.Reset()
		srv.ServeHTTP(w, req)
		if w.status != http.StatusOK {
			b.Fatalf("status %d: %s", w.status, w.body.Bytes())
		}
	}
}

// bodyWriter keeps the body, for the message of a failed request.
type bodyWriter struct {
	h      http.Header
	status int
	body   bytes.Buffer
}

func (w *bodyWriter) Header() http.Header         { return w.h }
func (w *bodyWriter) Write(b []byte) (int, error) { return w.body.Write(b) }
func (w *bodyWriter) WriteHeader(status int)      { w.status = status }
