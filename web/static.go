package web

import (
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"fmt"
	"io"
	"io/fs"
	"mime"
	"net/http"
	"path"
	"strings"
	"time"

	"github.com/tdewolff/minify/v2"
	"github.com/tdewolff/minify/v2/css"
	"github.com/tdewolff/minify/v2/js"

	"github.com/hxchat/hxchat/markdown"
)

//go:embed static
var staticFS embed.FS

// staticFiles serves the embedded files under URLs that carry a hash of their
// content, /static/{hash}/{name}, so browsers may cache them forever and a new
// build is fetched at once. Each file is compressed once, at start-up, and
// sent compressed to browsers that accept gzip.
type staticFiles struct {
	files map[string]staticFile // by name
}

type staticFile struct {
	hash  string
	body  []byte
	gz    []byte // body gzipped at best compression; nil when that gains nothing
	ctype string
}

func newStaticFiles() (*staticFiles, error) {
	sf := &staticFiles{files: make(map[string]staticFile)}
	chroma, err := minified("chroma.css", markdown.CSS()) // code highlighting, generated
	if err != nil {
		return nil, err
	}
	sf.add("chroma.css", chroma)
	err = fs.WalkDir(staticFS, "static", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := staticFS.ReadFile(p)
		if err != nil {
			return err
		}
		if b, err = minified(path.Base(p), b); err != nil {
			return err
		}
		sf.add(path.Base(p), b)
		return nil
	})
	return sf, err
}

// minified returns b, the static file name, without what a browser does not
// need (comments, spaces): our own script and style sheet are written to be
// read, and sent small. The vendored files come minified already.
func minified(name string, b []byte) ([]byte, error) {
	var m interface {
		Minify(*minify.M, io.Writer, io.Reader, map[string]string) error
	}
	switch {
	case strings.HasSuffix(name, ".min.js"):
		return b, nil
	case strings.HasSuffix(name, ".js"):
		m = &js.Minifier{}
	case strings.HasSuffix(name, ".css"):
		m = &css.Minifier{}
	default:
		return b, nil
	}
	var out bytes.Buffer
	if err := m.Minify(minify.New(), &out, bytes.NewReader(b), nil); err != nil {
		return nil, fmt.Errorf("web: minify %s: %w", name, err)
	}
	return out.Bytes(), nil
}

// add serves b as the static file name.
func (sf *staticFiles) add(name string, b []byte) {
	sum := sha256.Sum256(b)
	ctype := mime.TypeByExtension(path.Ext(name))
	if ctype == "" {
		ctype = http.DetectContentType(b)
	}
	sf.files[name] = staticFile{hash: hex.EncodeToString(sum[:6]), body: b, gz: gzipBest(b), ctype: ctype}
}

// gzipBest returns b compressed at gzip's best level, or nil when that does
// not make it smaller by more than the Content-Encoding header it costs.
func gzipBest(b []byte) []byte {
	var buf bytes.Buffer
	zw, _ := gzip.NewWriterLevel(&buf, gzip.BestCompression)
	zw.Write(b)
	zw.Close()
	if buf.Len()+len("Content-Encoding: gzip\r\n") >= len(b) {
		return nil
	}
	return buf.Bytes()
}

// url returns the content-addressed URL of a static file. It panics on an
// unknown name, which a test of every template catches.
func (sf *staticFiles) url(name string) string {
	f, ok := sf.files[name]
	if !ok {
		panic("web: no static file " + name)
	}
	return "/static/" + f.hash + "/" + name
}

// ServeHTTP serves the static file named in the path, gzipped when the
// browser accepts it and that is smaller.
func (sf *staticFiles) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	f, ok := sf.files[r.PathValue("name")]
	if !ok {
		http.NotFound(w, r)
		return
	}
	h := w.Header()
	h.Set("Content-Type", f.ctype)
	if r.PathValue("hash") == f.hash {
		h.Set("Cache-Control", "public, max-age=31536000, immutable")
	} else {
		h.Set("Cache-Control", "no-cache")
	}
	// Each encoding is a representation of its own, with an ETag of its own,
	// so that a validator of one never matches the other.
	addVary(h, "Accept-Encoding")
	body, etag := f.body, `"`+f.hash+`"`
	if f.gz != nil && acceptsGzip(r.Header) {
		body, etag = f.gz, `"`+f.hash+`-gzip"`
		w = gzipBody{w}
		if r.Header.Get("Range") != "" {
			// The compressed file is sent whole (and says so): no one
			// resumes a download of a few KiB of script.
			r = r.Clone(r.Context())
			r.Header.Del("Range")
		}
	}
	h.Set("ETag", etag)
	http.ServeContent(w, r, "", time.Time{}, bytes.NewReader(body))
}

// gzipBody marks the body http.ServeContent sends as gzip. It says so only
// on a 200: ServeContent leaves out Content-Length when Content-Encoding is
// set before it, and a 304 or an error page is not the file.
type gzipBody struct{ http.ResponseWriter }

// WriteHeader sets Content-Encoding and Accept-Ranges on a full response.
func (w gzipBody) WriteHeader(code int) {
	if code == http.StatusOK {
		w.Header().Set("Content-Encoding", "gzip")
		w.Header().Set("Accept-Ranges", "none")
	}
	w.ResponseWriter.WriteHeader(code)
}

// Unwrap returns the writer underneath, for http.ResponseController.
func (w gzipBody) Unwrap() http.ResponseWriter { return w.ResponseWriter }
