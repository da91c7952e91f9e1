package web

import (
	"bytes"
	"errors"
	"strconv"
	"strings"

	"github.com/hxchat/hxchat/markdown"
)

// AnswerReader reads an answer's event stream as the page does: it applies
// each event's fragments to a copy of the answer's text. Tests and the load
// program use it to see what a reader is shown; it knows the fragments that
// this file's other half (render.go) writes, and nothing else.
type AnswerReader struct {
	Body    markdown.DOM // the answer's text, as the page holds it
	Wait    string       // the HTML of the wait of the model service, if shown
	Final   string       // the finished article once the stream sent it, "" before
	Unknown int          // fragments that aim at something else, or do not fit
}

// ErrFragment is what AnswerReader.Apply returns for a fragment it cannot
// apply.
var ErrFragment = errors.New("web: a fragment of the answer's stream does not fit")

var (
	partialOpen  = []byte("<hx-partial ")
	partialClose = []byte("</hx-partial>")
)

// Apply applies the fragments of one event's data, in order.
func (a *AnswerReader) Apply(data []byte) error {
	var first error
	for {
		i := bytes.Index(data, partialOpen)
		if i < 0 {
			return first
		}
		data = data[i+len(partialOpen):]
		gt := bytes.IndexByte(data, '>')
		j := bytes.Index(data, partialClose)
		if gt < 0 || j < gt {
			a.Unknown++
			return ErrFragment
		}
		tag, content := string(data[:gt]), data[gt+1:j]
		data = data[j+len(partialClose):]
		if err := a.apply(attr(tag, "hx-target"), attr(tag, "hx-swap"), content); err != nil {
			a.Unknown++
			if first == nil {
				first = err
			}
		}
	}
}

func (a *AnswerReader) apply(target, swap string, content []byte) error {
	switch {
	case strings.HasSuffix(target, bodySuffix) && (swap == mdSwap || strings.HasPrefix(swap, mdSwap+" ")):
		op, ok := parseSwap(swap)
		if !ok {
			return ErrFragment
		}
		op.HTML = content
		return a.Body.Apply(op)
	case strings.HasSuffix(target, bodySuffix) && swap == "innerHTML":
		a.Body.Set(content)
	case strings.HasSuffix(target, waitSuffix) && swap == "innerHTML":
		a.Wait = string(content)
	case swap == "outerHTML" && strings.HasPrefix(target, "#m") && !strings.Contains(target, "-"):
		a.Final = string(content)
		tag, inner, ok := element(content, ` id="`+target[1:]+bodySuffix+`"`)
		if !ok {
			return ErrFragment
		}
		if !strings.Contains(tag, " hx-preserve") {
			a.Body.Set(inner)
		}
	case swap == "delete" || strings.HasPrefix(target, "#alert") || target == ".regenerate":
		// Parts of the page around the answer.
	default:
		return ErrFragment
	}
	return nil
}

// HTML returns the answer's text as the page shows it.
func (a *AnswerReader) HTML() string { return a.Body.HTML() }

// parseSwap reads the Op of an "md" swap (render.go's appendOp).
func parseSwap(swap string) (markdown.Op, bool) {
	var op markdown.Op
	for _, f := range strings.Fields(swap)[1:] {
		k, v, ok := strings.Cut(f, ":")
		if !ok {
			return op, false
		}
		switch k {
		case "p":
			for _, s := range strings.Split(v, "-") {
				n, err := strconv.Atoi(s)
				if err != nil || n < 0 {
					return op, false
				}
				op.Path = append(op.Path, n)
			}
		case "c", "t":
			n, err := strconv.Atoi(v)
			if err != nil || n < 0 {
				return op, false
			}
			if k == "c" {
				op.Cut = n
			} else {
				op.Trim = n
			}
		default:
			return op, false
		}
	}
	return op, true
}

// attr returns the value of attribute name in the start tag tag.
func attr(tag, name string) string {
	i := strings.Index(tag, name+`="`)
	if i < 0 {
		return ""
	}
	v := tag[i+len(name)+2:]
	if j := strings.IndexByte(v, '"'); j >= 0 {
		return v[:j]
	}
	return ""
}

// element finds the element of h whose start tag contains key and returns
// that start tag and its content: the HTML up to its end tag, counting
// nested elements of the same name.
func element(h []byte, key string) (tag string, inner []byte, ok bool) {
	i := bytes.Index(h, []byte(key))
	if i < 0 {
		return "", nil, false
	}
	start := bytes.LastIndexByte(h[:i], '<')
	gt := bytes.IndexByte(h[i:], '>')
	if start < 0 || gt < 0 {
		return "", nil, false
	}
	tag = string(h[start : i+gt+1])
	name := strings.TrimPrefix(strings.Fields(tag)[0], "<")
	rest := h[i+gt+1:]
	open, end := []byte("<"+name), []byte("</"+name+">")
	depth, pos := 1, 0
	for depth > 0 {
		e := bytes.Index(rest[pos:], end)
		if e < 0 {
			return "", nil, false
		}
		// Elements of the same name opened before this end tag nest.
		for o := pos; ; {
			k := bytes.Index(rest[o:pos+e], open)
			if k < 0 {
				break
			}
			if c := rest[o+k+len(open)]; c == ' ' || c == '>' {
				depth++
			}
			o += k + len(open)
		}
		depth--
		pos += e + len(end)
	}
	return tag, rest[:pos-len(end)], true
}

// AnswerBody returns the HTML of the text of the answer whose article has
// DOM id id ("m5"), as page (a page or a fragment) carries it.
func AnswerBody(page []byte, id string) ([]byte, bool) {
	_, inner, ok := element(page, ` id="`+id+bodySuffix+`"`)
	return inner, ok
}
