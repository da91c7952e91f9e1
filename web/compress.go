package web

import (
	"compress/gzip"
	"net/http"
	"strconv"
	"strings"
	"sync"
)

// compressMin is the size below which a response is sent as it is: gzip's
// header and trailer and a round of compression do not pay for less.
const compressMin = 1 << 10

// gzipWriters holds gzip writers at the level dynamic responses are
// compressed with. BestSpeed compresses a conversation page of 22 KB to
// 3.7 KB in 80 µs; the default level, to 3.2 KB in 220 µs (go test -run '^$'
// -bench Compress ./web).
var gzipWriters = sync.Pool{New: func() any {
	zw, _ := gzip.NewWriterLevel(nil, gzip.BestSpeed)
	return zw
}}

// compress gzips responses for clients that accept it: pages, fragments and
// other text of at least compressMin bytes. It leaves alone a response that
// is already encoded (the static files bring their own gzip), an event
// stream (flushed event by event; a compressor would hold them back), one
// without a body (204, 304) or with a part of one (206), and one with an
// ETag, whose validator names the bytes as they are. It holds a response
// back only until compressMin bytes have come, the handler flushes, or it
// ends.
func compress(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		addVary(w.Header(), "Accept-Encoding")
		if !acceptsGzip(r.Header) {
			next.ServeHTTP(w, r)
			return
		}
		cw := &compressWriter{ResponseWriter: w}
		next.ServeHTTP(cw, r)
		cw.close()
	})
}

// compressWriter decides, when the handler writes its header, whether the
// response could be compressed, and then, when compressMin bytes have come,
// whether it will be. Unwrap lets http.ResponseController reach the
// connection (deadlines); flushes go through FlushError.
type compressWriter struct {
	http.ResponseWriter
	status int          // the handler's status, until the header is sent
	mode   compressMode // what happens to the body
	buf    []byte       // the start of the body, while mode is held
	zw     *gzip.Writer // while mode is gzipped
}

type compressMode int

const (
	undecided compressMode = iota // the handler has sent no header yet
	held                          // could be compressed: the body waits in buf
	passed                        // sent as it is
	gzipped                       // sent compressed
)

// Unwrap returns the writer underneath, for http.ResponseController.
func (w *compressWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// WriteHeader holds the header of a response that might be compressed, and
// sends any other at once.
func (w *compressWriter) WriteHeader(code int) {
	switch w.mode {
	case held:
		return // superfluous, as net/http would have it
	case passed, gzipped:
		w.ResponseWriter.WriteHeader(code) // superfluous: net/http says so
		return
	}
	if code < 200 { // informational: the real header comes later
		w.ResponseWriter.WriteHeader(code)
		return
	}
	w.status = code
	w.mode = held
	if !compressible(code, w.Header()) {
		w.sendHeld()
	}
}

// Write compresses, holds or passes on body bytes as the header decided.
func (w *compressWriter) Write(p []byte) (int, error) {
	if w.mode == undecided {
		w.WriteHeader(http.StatusOK)
	}
	switch w.mode {
	case gzipped:
		return w.zw.Write(p)
	case held:
		if len(w.buf)+len(p) < compressMin {
			w.buf = append(w.buf, p...)
			return len(p), nil
		}
		if !w.textual(p) {
			if err := w.sendHeld(); err != nil {
				return 0, err
			}
			return w.ResponseWriter.Write(p)
		}
		w.startGzip()
		if _, err := w.zw.Write(w.buf); err != nil {
			return 0, err
		}
		w.buf = nil
		return w.zw.Write(p)
	}
	return w.ResponseWriter.Write(p)
}

// FlushError sends what the handler has written so far: a held body as it
// is (the handler wants it now, and it is small), a compressed one as far as
// it has been compressed.
func (w *compressWriter) FlushError() error {
	if w.mode == undecided {
		w.WriteHeader(http.StatusOK)
	}
	switch w.mode {
	case held:
		if err := w.sendHeld(); err != nil {
			return err
		}
	case gzipped:
		if err := w.zw.Flush(); err != nil {
			return err
		}
	}
	return http.NewResponseController(w.ResponseWriter).Flush()
}

// Flush is FlushError for callers that use http.Flusher.
func (w *compressWriter) Flush() { w.FlushError() }

// close ends the response: sends a body still held, or the end of the
// compressed stream.
func (w *compressWriter) close() {
	switch w.mode {
	case held:
		w.sendHeld()
	case gzipped:
		w.zw.Close()
		w.zw.Reset(nil) // let go of the connection's writer
		gzipWriters.Put(w.zw)
		w.zw = nil
	}
}

// sendHeld sends a held response as it is: its header and its body so far.
func (w *compressWriter) sendHeld() error {
	w.mode = passed
	w.ResponseWriter.WriteHeader(w.status)
	if len(w.buf) == 0 {
		return nil
	}
	_, err := w.ResponseWriter.Write(w.buf)
	w.buf = nil
	return err
}

// textual reports whether the held response, whose body starts with buf and
// then next, is text. Without a Content-Type it gets the one net/http would
// sniff: sniffed after compression, it would be application/x-gzip.
func (w *compressWriter) textual(next []byte) bool {
	h := w.Header()
	if _, ok := h["Content-Type"]; !ok {
		h.Set("Content-Type", http.DetectContentType(append(w.buf, next...)))
	}
	return compressibleType(h.Get("Content-Type"))
}

// startGzip sends the held header for a compressed body and readies the
// compressor.
func (w *compressWriter) startGzip() {
	h := w.Header()
	h.Set("Content-Encoding", "gzip")
	h.Del("Content-Length")
	w.mode = gzipped
	w.zw = gzipWriters.Get().(*gzip.Writer)
	w.zw.Reset(w.ResponseWriter)
	w.ResponseWriter.WriteHeader(w.status)
}

// compressible reports whether a response with this status and header may
// be compressed.
func compressible(code int, h http.Header) bool {
	switch code {
	case http.StatusNoContent, http.StatusNotModified, http.StatusPartialContent:
		return false
	}
	if h.Get("Content-Encoding") != "" || h.Get("Content-Range") != "" || h.Get("Etag") != "" {
		return false
	}
	if n, err := strconv.ParseInt(h.Get("Content-Length"), 10, 64); err == nil && n < compressMin {
		return false
	}
	ct, ok := h["Content-Type"]
	return !ok || len(ct) > 0 && compressibleType(ct[0]) // no type yet: sniffed when the body comes
}

// compressibleType reports whether a media type is text that gzip shrinks
// and that is read whole: not an event stream, not an image or an archive.
func compressibleType(ct string) bool {
	mt, _, _ := strings.Cut(ct, ";")
	mt = strings.ToLower(strings.TrimSpace(mt))
	switch {
	case mt == "text/event-stream":
		return false
	case strings.HasPrefix(mt, "text/"), strings.HasSuffix(mt, "+json"), strings.HasSuffix(mt, "+xml"):
		return true
	}
	switch mt {
	case "application/json", "application/javascript", "application/xml", "image/svg+xml":
		return true
	}
	return false
}

// acceptsGzip reports whether a request's Accept-Encoding accepts gzip:
// gzip (or x-gzip) with a q-value above 0, or else * above 0. Codings are
// matched without regard to case; gzip;q=0 refuses it even when * accepts
// anything. No header accepts only the identity.
func acceptsGzip(h http.Header) bool {
	gzipQ, starQ := -1.0, -1.0 // -1: not named
	for _, line := range h.Values("Accept-Encoding") {
		for item := range strings.SplitSeq(line, ",") {
			coding, params, _ := strings.Cut(item, ";")
			coding = strings.ToLower(strings.TrimSpace(coding))
			if coding != "gzip" && coding != "x-gzip" && coding != "*" {
				continue
			}
			q := qValue(params)
			if coding == "*" {
				starQ = max(starQ, q)
			} else {
				gzipQ = max(gzipQ, q)
			}
		}
	}
	if gzipQ >= 0 {
		return gzipQ > 0
	}
	return starQ > 0
}

// qValue returns the weight given in the parameters of an Accept-Encoding
// item ("q=0.5"): 1 when there is none, 0 when it is malformed.
func qValue(params string) float64 {
	for p := range strings.SplitSeq(params, ";") {
		k, v, ok := strings.Cut(p, "=")
		if !ok || !strings.EqualFold(strings.TrimSpace(k), "q") {
			continue
		}
		q, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
		if err != nil || q < 0 || q > 1 {
			return 0
		}
		return q
	}
	return 1
}

// addVary adds a field name to a response's Vary, once.
func addVary(h http.Header, field string) {
	for _, v := range h.Values("Vary") {
		for name := range strings.SplitSeq(v, ",") {
			if n := strings.TrimSpace(name); n == "*" || strings.EqualFold(n, field) {
				return
			}
		}
	}
	h.Add("Vary", field)
}
