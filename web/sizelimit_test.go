package web

import "testing"

// TestApproxChars: the size limit in characters of the reader's language.
func TestApproxChars(t *testing.T) {
	ls, err := loadLocales()
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		lang  string
		bytes int
		want  string
	}{
		{"en", 32 << 10, "32,700"},
		{"ja", 32 << 10, "10,900"},
		{"en", 1 << 10, "1,000"},
		{"ja", 1 << 10, "340"},
		{"ja", 1 << 20, "349,500"},
		{"en", 50, "50"},
	} {
		if got := approxChars(ls.get(c.lang), c.bytes); got != c.want {
			t.Errorf("%s, %d bytes: %q, want %q", c.lang, c.bytes, got, c.want)
		}
	}
	if got := localMessage(ls.get("ja"), tooLong(32<<10)); got != "メッセージが長すぎます：一度に送れるのは約 10,900 文字までです。短くするか、分けて送ってください。" {
		t.Errorf("Japanese refusal: %q", got)
	}
}
