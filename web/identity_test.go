package web

import (
	"strings"
	"testing"

	"github.com/hxchat/hxchat"
)

// TestOwnerKey: a person's owner key is stable, differs between people and
// between sources, says nothing of the person, and never has the shape of
// a browser session's id, so that no cookie can name it.
func TestOwnerKey(t *testing.T) {
	a := (&Identity{Source: "proxy", Subject: "alice@example.com"}).ownerKey()
	if again := (&Identity{Source: "proxy", Subject: "alice@example.com", Name: "Alice"}).ownerKey(); again != a {
		t.Errorf("not stable: %s, %s", a, again)
	}
	for _, other := range []*Identity{{Source: "proxy", Subject: "bob@example.com"}, {Source: "oidc", Subject: "alice@example.com"}} {
		if other.ownerKey() == a {
			t.Errorf("%+v has Alice's key", other)
		}
	}
	if !strings.HasPrefix(a, "u:") || len(a) != 28 || hxchat.ValidID(a) || strings.Contains(a, "alice") {
		t.Errorf("owner key %q", a)
	}
}
