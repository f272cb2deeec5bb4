package server_test

import (
	"fmt"
	"net/http"
	"path/filepath"
	"testing"

	"github.com/sentstub/sentstub/internal/contract"
)

// Everything the API wrote survives a restart on the same database: a
// created webhook, its settings, its rotated secret, its delivery log, and
// a deletion; a fixture webhook keeps the secret it was given at first load.
func TestResourceSurvivesRestart(t *testing.T) {
	rc := newReceiver(t)
	db := filepath.Join(t.TempDir(), "restart.db")
	m := startMain(t, db, "")
	e := &env{URL: m.URL(), Client: contract.Client(t)}
	created := e.create(t, fmt.Sprintf(`{"display_name": "Kept", "endpoint_url": %q, "retry_count": 4}`, rc.URL))
	id := created["id"].(string)
	secret := wantOK(t, e.acme(t, http.MethodPost, "/v3/webhooks/"+id+"/rotate-secret", nil))["signing_secret"].(string)
	wantOK(t, e.acme(t, http.MethodPost, "/v3/webhooks/"+id+"/test", nil))
	gone := e.create(t, `{"display_name": "Gone", "endpoint_url": "https://x.example"}`)["id"].(string)
	if r := e.acme(t, http.MethodDelete, "/v3/webhooks/"+gone, nil); r.Status != http.StatusNoContent {
		t.Fatalf("delete: %d", r.Status)
	}
	before := wantOK(t, e.acme(t, http.MethodGet, "/v3/webhooks/"+id, nil))
	shutdown(t, m)

	m = startMain(t, db, "")
	defer shutdown(t, m)
	e.URL = m.URL()
	if after := wantOK(t, e.acme(t, http.MethodGet, "/v3/webhooks/"+id, nil)); !equalJSON(after, before) {
		t.Errorf("after a restart:\n%v\nwant\n%v", after, before)
	}
	events := wantOK(t, e.acme(t, http.MethodGet, "/v3/webhooks/"+id+"/events?page=1&page_size=10", nil))["events"].([]any)
	if len(events) != 1 {
		t.Errorf("the delivery log after a restart: %v", events)
	}
	wantError(t, e.acme(t, http.MethodGet, "/v3/webhooks/"+gone, nil), http.StatusNotFound, "RESOURCE_008", "")
	wantOK(t, e.acme(t, http.MethodPost, "/v3/webhooks/"+id+"/test", nil))
	if err := verify(rc.requests()[1], secret); err != nil {
		t.Errorf("the rotated secret did not survive the restart: %v", err)
	}
}
