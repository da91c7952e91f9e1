package web

import (
	"bytes"
	"embed"
	"errors"
	"fmt"
	"html/template"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"text/template/parse"

	"github.com/hxchat/hxchat/live"
)

//go:embed templates/*.html
var templateFS embed.FS

// templates holds every template, parsed once at start-up, once for each
// language (see parseTemplates).
//
// The templates name the embedded struct of a field they use
// ({{.Message.Role}}, {{.Page.L}}, not {{.Role}}, {{.L}}): a field promoted
// from an embedded struct is found through reflection by a search of every
// embedded struct, which allocates, at every use.
type templates struct {
	byLang map[string]*template.Template // by locale.Lang
	def    *template.Template            // for a render without a language
	bufs   sync.Pool
}

// parseTemplates parses the templates once for each language of the
// catalogues, and folds into each set what is constant in that language, so
// that rendering evaluates only what depends on the data:
//
//   - before html/template escapes the templates, a call of t, of tf whose
//     arguments are all constants, of lang or otherLang (the set's language
//     and the other one), or of static with a constant name
//     becomes the string it returns ({{t .L "composer.send"}} is {{"Send"}}
//     in the English set); html/template then escapes that string in its
//     context as it escapes any value;
//   - once escaped, an action that prints a constant string through
//     html/template's own escapers becomes the text it prints, computed
//     once by executing it.
//
// Each action evaluated costs calls through reflection (the function, then
// each escaper), which made up most of the cost of a render. A set must be
// executed with data of its own language: render and write take it.
func parseTemplates(static *staticFiles) (*templates, error) {
	ls, err := loadLocales()
	if err != nil {
		return nil, err
	}
	funcs := templateFuncs(static)
	base, err := template.New("").Funcs(funcs).ParseFS(templateFS, "templates/*.html")
	if err != nil {
		return nil, err
	}
	tpl := &templates{byLang: make(map[string]*template.Template), bufs: sync.Pool{New: func() any { return new(bytes.Buffer) }}}
	for _, lang := range supported {
		l := ls.get(lang)
		set := template.New("").Funcs(funcs)
		for _, bt := range base.Templates() {
			if bt.Tree == nil || bt.Name() == "" {
				continue
			}
			tree := bt.Tree.Copy()
			if err := foldCalls(tree.Root, l, static); err != nil {
				return nil, fmt.Errorf("template %s: %w", bt.Name(), err)
			}
			if _, err := set.AddParseTree(bt.Name(), tree); err != nil {
				return nil, err
			}
		}
		if err := foldEscaped(set); err != nil {
			return nil, err
		}
		tpl.byLang[lang] = set
	}
	tpl.def = tpl.byLang[supported[0]]
	return tpl, nil
}

// templateFuncs returns the functions the templates call.
func templateFuncs(static *staticFiles) template.FuncMap {
	return template.FuncMap{
		"static":        static.url,
		"versionButton": versionButton,
		"finalEvent":    finalEvent,
		"lang":          func(l *locale) string { return l.Lang },
		"otherLang":     (*locale).Other,
		// t is locale.T as a function, {{t .L "composer.send"}}: a method call
		// ({{.L.T "composer.send"}}) looks the method up by name through reflection
		// at every call. It takes no arguments to format, so that no call makes a
		// slice of them; tf does ({{tf .L "version.of" .Nav.Version .Nav.Versions}}).
		// Calls with constant keys are folded away (see parseTemplates); those
		// left are calls whose key or arguments are computed.
		"t":  (*locale).msg,
		"tf": (*locale).T,
	}
}

// finalEvent is the name of the event that ends an answer's stream, for
// the templates: a constant, folded into them.
func finalEvent() string { return live.FinalEvent }

// foldCalls replaces, in the pipelines under n, each call that returns a
// constant in language l by that constant (see constCall). It runs before
// html/template has seen the templates, so that the constant is escaped
// for its context as any value is.
func foldCalls(n parse.Node, l *locale, static *staticFiles) error {
	var err error
	var pipe func(p *parse.PipeNode)
	pipe = func(p *parse.PipeNode) {
		if p == nil {
			return
		}
		for _, c := range p.Cmds {
			for _, a := range c.Args {
				if sub, ok := a.(*parse.PipeNode); ok {
					pipe(sub)
				}
			}
			s, ok := constCall(c.Args, l, static)
			if !ok {
				continue
			}
			if len(p.Cmds) > 1 && c != p.Cmds[0] {
				err = fmt.Errorf("a constant call is not first in its pipeline: %s", p)
				return
			}
			c.Args = []parse.Node{&parse.StringNode{NodeType: parse.NodeString, Pos: c.Pos, Quoted: strconv.Quote(s), Text: s}}
		}
	}
	var walk func(n parse.Node)
	walk = func(n parse.Node) {
		switch n := n.(type) {
		case *parse.ListNode:
			if n != nil {
				for _, c := range n.Nodes {
					walk(c)
				}
			}
		case *parse.ActionNode:
			pipe(n.Pipe)
		case *parse.IfNode:
			pipe(n.Pipe)
			walk(n.List)
			walk(n.ElseList)
		case *parse.RangeNode:
			pipe(n.Pipe)
			walk(n.List)
			walk(n.ElseList)
		case *parse.WithNode:
			pipe(n.Pipe)
			walk(n.List)
			walk(n.ElseList)
		case *parse.TemplateNode:
			pipe(n.Pipe)
		}
	}
	walk(n)
	return err
}

// constCall returns what the call args (a command: the function and its
// arguments) returns, if it is a call whose value is constant in language
// l: t and tf with constant arguments, lang and otherLang, whatever locale
// they name (a set is executed with data of its own language); static
// with a constant name; finalEvent.
func constCall(args []parse.Node, l *locale, static *staticFiles) (string, bool) {
	fn, ok := args[0].(*parse.IdentifierNode)
	if !ok {
		return "", false
	}
	if fn.Ident == "finalEvent" && len(args) == 1 {
		return finalEvent(), true
	}
	if len(args) < 2 {
		return "", false
	}
	var consts []string
	for _, a := range args[1:] {
		if s, ok := a.(*parse.StringNode); ok {
			consts = append(consts, s.Text)
		}
	}
	switch fn.Ident {
	case "lang": // of the set's locale, whichever args[1] names
		if len(args) == 2 {
			return l.Lang, true
		}
	case "otherLang":
		if len(args) == 2 {
			return l.Other(), true
		}
	case "static":
		if len(args) == 2 && len(consts) == 1 {
			return static.url(consts[0]), true
		}
	case "t":
		// The locale (args[1]) is the set's: only the key must be constant.
		if len(args) == 3 && len(consts) == 1 && isString(args[2]) {
			return l.msg(consts[0]), true
		}
	case "tf":
		if len(args) >= 3 && len(consts) == len(args)-2 && isString(args[2]) {
			rest := make([]any, len(consts)-1)
			for i, s := range consts[1:] {
				rest[i] = s
			}
			return l.T(consts[0], rest...), true
		}
	}
	return "", false
}

func isString(n parse.Node) bool { _, ok := n.(*parse.StringNode); return ok }

// foldEscaped escapes every template of set (html/template escapes a
// template when it is first executed) and then replaces each action that
// prints a constant string through html/template's escapers by the text it
// prints: what html/template itself computes for it, once. It runs before
// the set is shared.
//
// It relies on two things html/template does: Template.Tree is the escaped
// tree (documented), and a template that was escaped is not escaped again
// when executed, so that an action taken out of its tree and executed alone
// prints what it prints in place. Were either to change, the folded text
// would differ from what the templates print: TestTemplatesFolded compares
// every template with the same templates parsed as they are. The copies
// that html/template makes of a template called in another context (in a
// tag, say) are not in set.Templates() and stay as they are.
func foldEscaped(set *template.Template) error {
	var buf bytes.Buffer
	for _, t := range set.Templates() {
		// Nil data: the escaping is what matters; an error of execution
		// (a field of nil) is expected, one of escaping is not.
		err := set.ExecuteTemplate(io.Discard, t.Name(), nil)
		if _, ok := errors.AsType[*template.Error](err); ok {
			return err
		}
	}
	for _, t := range set.Templates() {
		tree := t.Tree
		if tree == nil {
			continue
		}
		root := tree.Root
		var err error
		var walk func(l *parse.ListNode)
		walk = func(l *parse.ListNode) {
			if l == nil {
				return
			}
			nodes := l.Nodes[:0]
			for _, n := range l.Nodes {
				switch n := n.(type) {
				case *parse.ActionNode:
					if constEscaped(n.Pipe) {
						tree.Root = &parse.ListNode{NodeType: parse.NodeList, Pos: n.Pos, Nodes: []parse.Node{n}}
						buf.Reset()
						if e := set.ExecuteTemplate(&buf, t.Name(), nil); e != nil {
							err = e
						}
						tree.Root = root
						text := &parse.TextNode{NodeType: parse.NodeText, Pos: n.Pos, Text: bytes.Clone(buf.Bytes())}
						nodes = appendText(nodes, text)
						continue
					}
				case *parse.TextNode:
					nodes = appendText(nodes, n)
					continue
				case *parse.IfNode:
					walk(n.List)
					walk(n.ElseList)
				case *parse.RangeNode:
					walk(n.List)
					walk(n.ElseList)
				case *parse.WithNode:
					walk(n.List)
					walk(n.ElseList)
				}
				nodes = append(nodes, n)
			}
			l.Nodes = nodes
		}
		walk(root)
		if err != nil {
			return fmt.Errorf("template %s: %w", t.Name(), err)
		}
	}
	return nil
}

// appendText appends text to nodes, joined to the text before it if any:
// one write instead of two.
func appendText(nodes []parse.Node, text *parse.TextNode) []parse.Node {
	if k := len(nodes); k > 0 {
		if prev, ok := nodes[k-1].(*parse.TextNode); ok {
			nodes[k-1] = &parse.TextNode{NodeType: parse.NodeText, Pos: prev.Pos, Text: append(bytes.Clone(prev.Text), text.Text...)}
			return nodes
		}
	}
	return append(nodes, text)
}

// constEscaped reports whether p prints a constant string through
// html/template's escapers only: "Send" | _html_template_htmlescaper.
func constEscaped(p *parse.PipeNode) bool {
	if p == nil || len(p.Decl) > 0 || len(p.Cmds) < 2 || len(p.Cmds[0].Args) != 1 || !isString(p.Cmds[0].Args[0]) {
		return false
	}
	for _, c := range p.Cmds[1:] {
		id, ok := c.Args[0].(*parse.IdentifierNode)
		if len(c.Args) != 1 || !ok || !strings.HasPrefix(id.Ident, "_html_template_") {
			return false
		}
	}
	return true
}

// set returns the templates of language l (the default's when l is nil).
func (t *templates) set(l *locale) *template.Template {
	if l != nil {
		if s, ok := t.byLang[l.Lang]; ok {
			return s
		}
	}
	return t.def
}

// render executes template name, in language l, into a new byte slice.
func (t *templates) render(l *locale, name string, data any) ([]byte, error) {
	buf := t.bufs.Get().(*bytes.Buffer)
	defer t.bufs.Put(buf)
	buf.Reset()
	if err := t.set(l).ExecuteTemplate(buf, name, data); err != nil {
		return nil, err
	}
	return bytes.Clone(buf.Bytes()), nil
}

// write renders template name, in language l, into a buffer and, only if
// that worked, writes it with the status; a template error never leaves
// half a page.
func (t *templates) write(w http.ResponseWriter, status int, l *locale, name string, data any) {
	buf := t.bufs.Get().(*bytes.Buffer)
	defer t.bufs.Put(buf)
	buf.Reset()
	if err := t.set(l).ExecuteTemplate(buf, name, data); err != nil {
		slog.Error("render template", "template", name, "err", err)
		http.Error(w, "Internal Server Error", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	w.Write(buf.Bytes())
}
