package markdown

import "testing"

// anchor is the start tag of a link to http://x.example.
const anchor = `<a href="http://x.example" rel="noopener noreferrer nofollow" target="_blank">`

// lineBreakCases are soft line breaks next to text and inline elements, in
// English (the break stays "\n") and Japanese (it goes), with the paragraph
// each renders to.
var lineBreakCases = []struct{ name, src, want string }{
	// CommonMark spec examples 37 and 394: a break before emphasis stays.
	{"spec 37", "&#42;foo&#42;\n*foo*", "<p>*foo*\n<em>foo</em></p>\n"},
	{"spec 394", "**Gomphocarpus (*Gomphocarpus physocarpus*, syn.\n*Asclepias physocarpa*)**",
		"<p><strong>Gomphocarpus (<em>Gomphocarpus physocarpus</em>, syn.\n<em>Asclepias physocarpa</em>)</strong></p>\n"},

	{"en text", "see\nthis", "<p>see\nthis</p>\n"},
	{"en before em", "see\n*this*", "<p>see\n<em>this</em></p>\n"},
	{"en punct before em", "syn.\n*Asclepias*", "<p>syn.\n<em>Asclepias</em></p>\n"},
	{"en after em", "*see*\nthis", "<p><em>see</em>\nthis</p>\n"},
	{"en before strong", "see\n**this**", "<p>see\n<strong>this</strong></p>\n"},
	{"en before code", "see\n`this`", "<p>see\n<code>this</code></p>\n"},
	{"en after code", "`see`\nthis", "<p><code>see</code>\nthis</p>\n"},
	{"en before link", "see\n[this](http://x.example)", "<p>see\n" + anchor + "this</a></p>\n"},
	{"en inside link", "[see\nthis](http://x.example)", "<p>" + anchor + "see\nthis</a></p>\n"},
	{"en before autolink", "see\n<http://x.example>", "<p>see\n" + anchor + "http://x.example</a></p>\n"},
	{"en before linkify", "see\nhttp://x.example", "<p>see\n" + anchor + "http://x.example</a></p>\n"},
	{"en before del", "see\n~~this~~", "<p>see\n<del>this</del></p>\n"},
	{"en between ems", "*see*\n*this*", "<p><em>see</em>\n<em>this</em></p>\n"},
	{"en hard break", "see  \n*this*", "<p>see<br>\n<em>this</em></p>\n"},

	{"ja text", "日本語の\n文章です", "<p>日本語の文章です</p>\n"},
	{"ja before strong", "日本語の\n**強調**です", "<p>日本語の<strong>強調</strong>です</p>\n"},
	{"ja after strong", "日本語の**強調**\nです", "<p>日本語の<strong>強調</strong>です</p>\n"},
	{"ja before em", "日本語の\n*強調*です", "<p>日本語の<em>強調</em>です</p>\n"},
	{"ja before code", "日本語の\n`コード`です", "<p>日本語の<code>コード</code>です</p>\n"},
	{"ja after code", "日本語の`コード`\nです", "<p>日本語の<code>コード</code>です</p>\n"},
	{"ja before link", "日本語の\n[リンク](http://x.example)です", "<p>日本語の" + anchor + "リンク</a>です</p>\n"},
	{"ja end of link", "[日本語の\n](http://x.example)文章", "<p>" + anchor + "日本語の</a>文章</p>\n"},
	{"ja before del", "日本語の\n~~削除~~です", "<p>日本語の<del>削除</del>です</p>\n"},
	{"ja nested", "**日本語の*強調***\n*です*", "<p><strong>日本語の<em>強調</em></strong><em>です</em></p>\n"},
	{"ja punctuation", "文章です。\n「次」", "<p>文章です。「次」</p>\n"},
	{"ja entity", "日本&#x8A9E;\nです", "<p>日本語です</p>\n"},
	{"ja hard break", "日本語の  \n文章です", "<p>日本語の<br>\n文章です</p>\n"},

	// goldmark's rule needs both sides wide: a break between Japanese and
	// ASCII stays, whatever markup is there.
	{"wide then ascii em", "日本語\n*emph*", "<p>日本語\n<em>emph</em></p>\n"},
	{"ascii then wide em", "word\n*日本語*", "<p>word\n<em>日本語</em></p>\n"},
	{"wide then ascii", "日本語\nGo", "<p>日本語\nGo</p>\n"},
	{"wide then autolink", "日本語\n<http://x.example>", "<p>日本語\n" + anchor + "http://x.example</a></p>\n"},
	{"escaped ascii", "日本語\n\\*です", "<p>日本語\n*です</p>\n"},
	{"code ends in space", "日本`a\n`\nです", "<p>日本<code>a </code>\nです</p>\n"},

	// Image alt text is plain text: a break in it is a space, or nothing
	// between wide characters.
	{"en image alt", "![see\nthis](http://x.example)", `<p><a href="http://x.example" rel="noopener noreferrer nofollow" target="_blank" class="image">see this</a></p>` + "\n"},
	{"ja image alt", "![日本語の\n画像](http://x.example)", `<p><a href="http://x.example" rel="noopener noreferrer nofollow" target="_blank" class="image">日本語の画像</a></p>` + "\n"},
}

// TestLineBreaks: a soft line break renders as "\n" unless the characters
// rendered on both sides of it are East Asian wide, then as nothing; and
// streaming each case at every rune gives the same.
func TestLineBreaks(t *testing.T) {
	r := New()
	for _, c := range lineBreakCases {
		t.Run(c.name, func(t *testing.T) {
			if got := string(r.Render(c.src)); got != c.want {
				t.Errorf("Render(%q)\n got %q\nwant %q", c.src, got, c.want)
			}
			checkStream(t, r, c.src, runeEnds(c.src))
		})
	}
}
