package web

import (
	"bytes"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"io/fs"
	"mime"
	"net/http"
	"path"
	"time"

	"github.com/hxchat/hxchat/markdown"
)

//go:embed static
var staticFS embed.FS

// staticFiles serves the embedded files under URLs that carry a hash of their
// content, /static/{hash}/{name}, so browsers may cache them forever and a new
// build is fetched at once.
type staticFiles struct {
	files map[string]staticFile // by name
}

type staticFile struct {
	hash  string
	body  []byte
	ctype string
}

func newStaticFiles() (*staticFiles, error) {
	sf := &staticFiles{files: make(map[string]staticFile)}
	sf.add("chroma.css", markdown.CSS()) // code highlighting, generated
	err := fs.WalkDir(staticFS, "static", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := staticFS.ReadFile(p)
		if err != nil {
			return err
		}
		sf.add(path.Base(p), b)
		return nil
	})
	return sf, err
}

// add serves b as the static file name.
func (sf *staticFiles) add(name string, b []byte) {
	sum := sha256.Sum256(b)
	ctype := mime.TypeByExtension(path.Ext(name))
	if ctype == "" {
		ctype = http.DetectContentType(b)
	}
	sf.files[name] = staticFile{hash: hex.EncodeToString(sum[:6]), body: b, ctype: ctype}
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
	http.ServeContent(w, r, "", time.Time{}, bytes.NewReader(f.body))
}
