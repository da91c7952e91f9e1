package postgres_test

import (
	"testing"

	"github.com/hxchat/hxchat"
	"github.com/hxchat/hxchat/postgres"
	"github.com/hxchat/hxchat/postgres/pgtest"
	"github.com/hxchat/hxchat/storetest"
)

// open opens a store on a fresh schema and closes it when the test ends.
func open(t *testing.T) *postgres.Store {
	t.Helper()
	s, err := postgres.Open(t.Context(), pgtest.URL(t))
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func TestStore(t *testing.T) {
	storetest.Run(t, func(t *testing.T) hxchat.Store { return open(t) })
}
