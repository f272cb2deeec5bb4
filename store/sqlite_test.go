package store_test

import (
	"testing"

	"github.com/sentstub/sentstub"
	"github.com/sentstub/sentstub/store/storetest"
)

func TestSQLiteConformance(t *testing.T) {
	storetest.Run(t, func(tb testing.TB) sentstub.Store { return storetest.MustOpenSQLite(tb) })
}

func TestSQLiteMemoryConformance(t *testing.T) {
	storetest.Run(t, func(tb testing.TB) sentstub.Store { return storetest.MustOpenSQLitePath(tb, ":memory:") })
}
