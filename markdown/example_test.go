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
	for _, token := range []string{"# Ti", "tle\n", "\nSome ", "text.\n", "\n- a\n"} {
		answer += token
		done, tail := s.Grow(answer)
		// Append done to the finished part, replace the tail with tail.
		fmt.Printf("mark %2d  done %q  tail %q\n", s.Mark(), done, tail)
	}
	// Output:
	// mark  0  done ""  tail "<h1>Ti</h1>\n"
	// mark  0  done ""  tail "<h1>Title</h1>\n"
	// mark  0  done ""  tail "<h1>Title</h1>\n<p>Some</p>\n"
	// mark  9  done "<h1>Title</h1>\n"  tail "<p>Some text.</p>\n"
	// mark 21  done "<p>Some text.</p>\n"  tail "<ul>\n<li>a</li>\n</ul>\n"
}
