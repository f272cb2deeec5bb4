// Package storetest holds what tests need of a store: helpers that open a
// real one and load fixtures, and the conformance suite that every
// sentstub.Store implementation must pass.
package storetest

import (
	"bytes"
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/sentstub/sentstub"
	"github.com/sentstub/sentstub/fixtures"
	"github.com/sentstub/sentstub/store"
)

// Ids and keys of the demo fixture (fixtures/demo.yaml).
const (
	AcmeOrgID         = "0f8e3c1a-6b2d-4c5e-9a7f-1b2c3d4e5f60"
	AcmeEUProfileID   = "7a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d"
	GlobexOrgID       = "3c4d5e6f-7a8b-4c9d-8e0f-a1b2c3d4e5f6"
	AcmeOrgKey        = "sk_test_acme_org"
	AcmeEUKey         = "sk_test_acme_eu"
	GlobexOrgKey      = "sk_test_globex_org"
	OrderWebhookID    = "d4f5a6b7-c8d9-4e0f-a1b2-c3d4e5f6a7b8" // Acme's, active
	ReceiptsWebhookID = "9b8a7c6d-5e4f-4a3b-9c2d-1e0f9a8b7c6d" // Acme's, inactive, 10 failures
	EUWebhookID       = "5e6f7a8b-9c0d-4e1f-a2b3-c4d5e6f7a8b9" // Acme EU's, active
	GlobexWebhookID   = "1a2b3c4d-5e6f-4a7b-8c9d-0e1f2a3b4c5d" // Globex's, active
)

// MustOpenSQLite opens a SQLite store in a file of a temporary directory,
// closed when the test ends.
func MustOpenSQLite(tb testing.TB) *store.SQLiteStore {
	tb.Helper()
	return MustOpenSQLitePath(tb, filepath.Join(tb.TempDir(), "sentstub.db"))
}

// MustOpenSQLitePath opens the SQLite store at path (":memory:" included),
// closed when the test ends.
func MustOpenSQLitePath(tb testing.TB, path string) *store.SQLiteStore {
	tb.Helper()
	st, err := store.OpenSQLite(context.Background(), path, store.Options{})
	if err != nil {
		tb.Fatalf("open sqlite store: %v", err)
	}
	tb.Cleanup(func() {
		if err := st.Close(); err != nil {
			tb.Errorf("close sqlite store: %v", err)
		}
	})
	return st
}

// MustProvision loads a fixtures file into st, created at now.
func MustProvision(tb testing.TB, st sentstub.Store, yaml []byte, now time.Time) {
	tb.Helper()
	p, err := fixtures.Parse(bytes.NewReader(yaml), now)
	if err != nil {
		tb.Fatalf("parse fixtures: %v", err)
	}
	if err := st.Provision(context.Background(), p); err != nil {
		tb.Fatalf("provision: %v", err)
	}
}

// MustProvisionDemo loads the demo fixture into st.
func MustProvisionDemo(tb testing.TB, st sentstub.Store, now time.Time) {
	tb.Helper()
	MustProvision(tb, st, fixtures.Demo, now)
}
