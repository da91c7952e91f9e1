package web_test

import (
	"bytes"
	"compress/gzip"
	"io"
	"net/http"
	"strings"
	"testing"

	"golang.org/x/net/html"
	"golang.org/x/net/html/atom"
)

// firstLoadBudget is the most the first load of the page may weigh on the
// wire: the page and every file it links, as sent.
const firstLoadBudget = 35_000

// TestFirstLoadWeight loads the page the way a browser does the first time —
// GET / accepting gzip, deflate and br, then every stylesheet, script and
// icon it links — and sums the bodies as sent (compressed where they were).
// Each compressed body must decode; the sum must stay within the budget.
func TestFirstLoadWeight(t *testing.T) {
	ts := newServer(t, 0, 0)
	// A transport that leaves the bodies as sent: it adds no Accept-Encoding
	// of its own and decodes nothing.
	c := &http.Client{Transport: &http.Transport{DisableCompression: true}}
	t.Cleanup(c.CloseIdleConnections)
	fetch := func(path string) (wire, plain []byte) {
		t.Helper()
		req, _ := http.NewRequest("GET", ts.URL+path, nil)
		req.Header.Set("Accept-Encoding", "gzip, deflate, br")
		resp, err := c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		wire, err = io.ReadAll(resp.Body)
		if err != nil || resp.StatusCode != http.StatusOK {
			t.Fatalf("%s: %d %v", path, resp.StatusCode, err)
		}
		switch enc := resp.Header.Get("Content-Encoding"); enc {
		case "":
			plain = wire
		case "gzip":
			zr, err := gzip.NewReader(bytes.NewReader(wire))
			if err != nil {
				t.Fatalf("%s: %v", path, err)
			}
			if plain, err = io.ReadAll(zr); err != nil {
				t.Fatalf("%s: %v", path, err)
			}
		default:
			t.Fatalf("%s: Content-Encoding %q, which the request did not offer first", path, enc)
		}
		t.Logf("%-40s %6d bytes on the wire, %6d decoded (%s)", path, len(wire), len(plain), resp.Header.Get("Content-Encoding"))
		return wire, plain
	}

	wire, page := fetch("/")
	total := len(wire)
	links := linkedFiles(t, page)
	if len(links) < 5 {
		t.Fatalf("the page links %d files, want at least its icon, styles and scripts: %q", len(links), links)
	}
	for _, u := range links {
		wire, _ := fetch(u)
		total += len(wire)
	}
	t.Logf("first load: %d requests, %d bytes (%.1f KiB) on the wire", 1+len(links), total, float64(total)/1024)
	if total > firstLoadBudget {
		t.Errorf("first load is %d bytes on the wire, over the budget of %d", total, firstLoadBudget)
	}
}

// linkedFiles returns what a browser fetches to show the page: the href of
// every <link> (stylesheets, icon) and the src of every <script>.
func linkedFiles(t *testing.T, page []byte) []string {
	t.Helper()
	doc, err := html.Parse(bytes.NewReader(page))
	if err != nil {
		t.Fatal(err)
	}
	var urls []string
	for n := range doc.Descendants() {
		if n.Type != html.ElementNode {
			continue
		}
		want := ""
		switch n.DataAtom {
		case atom.Link:
			want = "href"
		case atom.Script:
			want = "src"
		default:
			continue
		}
		for _, a := range n.Attr {
			if a.Key == want && strings.HasPrefix(a.Val, "/") {
				urls = append(urls, a.Val)
			}
		}
	}
	return urls
}
