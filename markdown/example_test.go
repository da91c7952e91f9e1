package markdown_test

import (
	"fmt"

	"github.com/hxchat/hxchat/markdown"
)

func ExampleRenderer_Render() {
	r := markdown.New()
	fmt.Printf("%s", r.Render("**Hi** <script>alert(1)</script> [docs](https://go.dev) [x](javascript:alert(1))"))
	// Output:
	// <p><strong>Hi</strong> &lt;script&gt;alert(1)&lt;/script&gt; <a href="https://go.dev" rel="noopener noreferrer nofollow" target="_blank">docs</a> x</p>
}

func ExampleStream_Grow() {
	r := markdown.New()
	s := r.Stream()
	answer := ""
	for _, token := range []string{"# Ti", "tle\n", "\nSome ", "text.\n", "\n- a\n", "- b"} {
		answer += token
		for _, op := range s.Grow(answer) {
			// Step down op.Path, cut op.Cut nodes, trim op.Trim
			// characters of text, append op.HTML.
			fmt.Printf("%-12q path %v cut %d trim %d append %q\n", token, op.Path, op.Cut, op.Trim, op.HTML)
		}
	}
	// Output:
	// "# Ti"       path [] cut 0 trim 0 append "<h1>Ti</h1>\n"
	// "tle\n"      path [0] cut 0 trim 0 append "tle"
	// "\nSome "    path [] cut 0 trim 0 append "<p>Some</p>\n"
	// "text.\n"    path [0] cut 0 trim 0 append " text."
	// "\n- a\n"    path [] cut 0 trim 0 append "<ul>\n<li>a</li>\n</ul>\n"
	// "- b"        path [0] cut 0 trim 0 append "<li>b</li>\n"
}
