package web

import (
	"bytes"
	"embed"
	"html/template"
	"log/slog"
	"net/http"
	"sync"
)

//go:embed templates/*.html
var templateFS embed.FS

// templates holds every template, parsed once at start-up.
//
// The templates name the embedded struct of a field they use
// ({{.Message.Role}}, {{.Page.L}}, not {{.Role}}, {{.L}}): a field promoted
// from an embedded struct is found through reflection by a search of every
// embedded struct, which allocates, at every use.
type templates struct {
	t    *template.Template
	bufs sync.Pool
}

func parseTemplates(static *staticFiles) (*templates, error) {
	funcs := template.FuncMap{
		"static":        static.url,
		"convItem":      convItem,
		"versionButton": versionButton,
		// t is locale.T as a function, {{t .L "composer.send"}}: a method call
		// ({{.L.T "composer.send"}}) looks the method up by name through reflection
		// at every call, which made up much of a turn's rendering. It takes
		// no arguments to format, so that no call makes a slice of them; tf
		// does ({{tf .L "version.of" .Nav.Version .Nav.Versions}}).
		"t":  (*locale).msg,
		"tf": (*locale).T,
	}
	t, err := template.New("").Funcs(funcs).ParseFS(templateFS, "templates/*.html")
	if err != nil {
		return nil, err
	}
	return &templates{t: t, bufs: sync.Pool{New: func() any { return new(bytes.Buffer) }}}, nil
}

// render executes template name into a new byte slice.
func (t *templates) render(name string, data any) ([]byte, error) {
	buf := t.bufs.Get().(*bytes.Buffer)
	defer t.bufs.Put(buf)
	buf.Reset()
	if err := t.t.ExecuteTemplate(buf, name, data); err != nil {
		return nil, err
	}
	return bytes.Clone(buf.Bytes()), nil
}

// write renders template name into a buffer and, only if that worked, writes
// it with the status; a template error never leaves half a page.
func (t *templates) write(w http.ResponseWriter, status int, name string, data any) {
	buf := t.bufs.Get().(*bytes.Buffer)
	defer t.bufs.Put(buf)
	buf.Reset()
	if err := t.t.ExecuteTemplate(buf, name, data); err != nil {
		slog.Error("render template", "template", name, "err", err)
		http.Error(w, "Internal Server Error", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	w.Write(buf.Bytes())
}
