package cmspec

import (
	"strings"
	"testing"
)

func TestLoad(t *testing.T) {
	ex, err := Load("testdata/spec.txt")
	if err != nil {
		t.Fatal(err)
	}
	if len(ex) != 652 {
		t.Fatalf("%d examples, want 652", len(ex))
	}
	if e := ex[0]; e.Number != 1 || e.Markdown != "\tfoo\tbaz\t\tbim\n" || e.HTML != "<pre><code>foo\tbaz\t\tbim\n</code></pre>\n" || e.Section != "Tabs" {
		t.Errorf("example 1: %+v", e)
	}
	if e := ex[393]; e.Number != 394 || !strings.Contains(e.Markdown, "syn.\n*Asclepias") {
		t.Errorf("example 394: %+v", e)
	}
}
