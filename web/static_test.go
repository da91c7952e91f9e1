package web

import (
	"bytes"
	"net/http"
	"net/http/httptest"
	"strconv"
	"testing"
)

// serveStatic requests a static file by its current URL with the given
// header pairs.
func serveStatic(sf *staticFiles, method, name string, header ...string) *httptest.ResponseRecorder {
	mux := http.NewServeMux()
	mux.Handle("GET /static/{hash}/{name}", sf)
	r := httptest.NewRequest(method, sf.url(name), nil)
	for i := 0; i+1 < len(header); i += 2 {
		r.Header.Set(header[i], header[i+1])
	}
	w := httptest.NewRecorder()
	mux.ServeHTTP(w, r)
	return w
}

// TestStaticGzip: every text file is compressed once; a browser that
// accepts gzip gets the compressed body, which decodes to the file, with an
// ETag of its own; one that does not (no header, or gzip;q=0) gets the file
// as it is. Both say Vary: Accept-Encoding and their length.
func TestStaticGzip(t *testing.T) {
	sf, err := newStaticFiles()
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"htmx.min.js", "hx-sse.min.js", "app.js", "app.css", "chroma.css"} {
		f := sf.files[name]
		if f.gz == nil || len(f.gz) >= len(f.body)/2 {
			t.Errorf("%s: %d bytes gzipped to %d", name, len(f.body), len(f.gz))
			continue
		}
		etags := map[string]bool{}
		for _, tc := range []struct {
			accept string
			gzip   bool
		}{
			{"gzip, deflate, br", true},
			{"*", true},
			{"", false},
			{"gzip;q=0, deflate", false},
			{"br", false},
		} {
			w := serveStatic(sf, "GET", name, "Accept-Encoding", tc.accept)
			h := w.Header()
			body, want := w.Body.Bytes(), f.body
			if tc.gzip {
				want = f.gz
				if h.Get("Content-Encoding") != "gzip" || !bytes.Equal(gunzip(t, body), f.body) {
					t.Errorf("%s, %q: Content-Encoding %q, or the body does not decode to the file", name, tc.accept, h.Get("Content-Encoding"))
				}
			} else if h.Get("Content-Encoding") != "" {
				t.Errorf("%s, %q: Content-Encoding %q", name, tc.accept, h.Get("Content-Encoding"))
			}
			if w.Code != 200 || !bytes.Equal(body, want) || h.Get("Content-Length") != strconv.Itoa(len(want)) ||
				h.Get("Vary") != "Accept-Encoding" || h.Get("Content-Type") != sf.files[name].ctype {
				t.Errorf("%s, %q: %d, %d bytes, headers %v", name, tc.accept, w.Code, len(body), h)
			}
			etags[h.Get("ETag")] = tc.gzip
		}
		if len(etags) != 2 {
			t.Errorf("%s: ETags %v, want one per encoding", name, etags)
		}
	}
	// A file that gzip does not shrink enough is sent as it is.
	if f := sf.files["favicon.svg"]; f.gz != nil {
		t.Errorf("favicon.svg: %d bytes kept gzipped as %d", len(f.body), len(f.gz))
	}
	w := serveStatic(sf, "GET", "favicon.svg", "Accept-Encoding", "gzip")
	if w.Header().Get("Content-Encoding") != "" || !bytes.Equal(w.Body.Bytes(), sf.files["favicon.svg"].body) {
		t.Errorf("favicon.svg: %v", w.Header())
	}
}

// TestStaticConditional: HEAD, If-None-Match and Range with each encoding.
func TestStaticConditional(t *testing.T) {
	sf, err := newStaticFiles()
	if err != nil {
		t.Fatal(err)
	}
	const name = "htmx.min.js"
	f := sf.files[name]
	gz := serveStatic(sf, "GET", name, "Accept-Encoding", "gzip")
	plain := serveStatic(sf, "GET", name)
	gzTag, plainTag := gz.Header().Get("ETag"), plain.Header().Get("ETag")

	// HEAD says what GET would send, and sends nothing.
	head := serveStatic(sf, "HEAD", name, "Accept-Encoding", "gzip")
	if head.Code != 200 || head.Body.Len() != 0 || head.Header().Get("Content-Encoding") != "gzip" ||
		head.Header().Get("Content-Length") != strconv.Itoa(len(f.gz)) {
		t.Errorf("HEAD: %d, %d bytes, %v", head.Code, head.Body.Len(), head.Header())
	}

	// A browser that has the file gets 304, without Content-Encoding;
	// a validator of the other encoding does not match.
	for _, tc := range []struct {
		accept, inm string
		status      int
	}{
		{"gzip", gzTag, 304},
		{"", plainTag, 304},
		{"gzip", plainTag, 200},
		{"", gzTag, 200},
	} {
		w := serveStatic(sf, "GET", name, "Accept-Encoding", tc.accept, "If-None-Match", tc.inm)
		if w.Code != tc.status || tc.status == 304 && (w.Body.Len() != 0 || w.Header().Get("Content-Encoding") != "") {
			t.Errorf("%q with If-None-Match %s: %d, %v", tc.accept, tc.inm, w.Code, w.Header())
		}
	}

	// Ranges are of the file as it is; the compressed file is sent whole
	// and says it takes no ranges.
	w := serveStatic(sf, "GET", name, "Range", "bytes=0-9")
	if w.Code != 206 || w.Body.String() != string(f.body[:10]) || w.Header().Get("Content-Encoding") != "" {
		t.Errorf("plain range: %d %q %v", w.Code, w.Body, w.Header())
	}
	w = serveStatic(sf, "GET", name, "Accept-Encoding", "gzip", "Range", "bytes=0-9")
	if w.Code != 200 || !bytes.Equal(w.Body.Bytes(), f.gz) || w.Header().Get("Content-Encoding") != "gzip" ||
		w.Header().Get("Accept-Ranges") != "none" || w.Header().Get("Content-Range") != "" {
		t.Errorf("gzip range: %d, %d bytes, %v", w.Code, w.Body.Len(), w.Header())
	}
	// An unsatisfiable range of the plain file is an error without the
	// file's encoding or validator.
	w = serveStatic(sf, "GET", name, "Range", "bytes=99999999-")
	if w.Code != http.StatusRequestedRangeNotSatisfiable || w.Header().Get("Content-Encoding") != "" {
		t.Errorf("bad range: %d %v", w.Code, w.Header())
	}
}

// TestStaticMinified: our own script and style sheets are served without
// comments and spaces (the page's first load is counted in bytes), and the
// vendored files as they come.
func TestStaticMinified(t *testing.T) {
	sf, err := newStaticFiles()
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"app.js", "app.css", "htmx.min.js"} {
		src, err := staticFS.ReadFile("static/" + name)
		if err != nil {
			t.Fatal(err)
		}
		got := sf.files[name].body
		t.Logf("%s: %d bytes served of %d", name, len(got), len(src))
		switch {
		case name == "htmx.min.js" && !bytes.Equal(got, src):
			t.Errorf("%s: vendored file changed", name)
		case name != "htmx.min.js" && (len(got) > len(src)*7/8 || bytes.Contains(got, []byte("/*"))):
			t.Errorf("%s: %d bytes served of %d, or comments left", name, len(got), len(src))
		}
	}
	if got := sf.files["chroma.css"].body; bytes.Contains(got, []byte("\n\n")) || len(got) == 0 {
		t.Errorf("chroma.css not minified: %.200q", got)
	}
}
