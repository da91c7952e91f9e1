package web

import (
	"embed"
	"encoding/json"
	"fmt"
	"html/template"
	"maps"
	"net/http"
	"slices"
	"strings"
	"sync"
	"sync/atomic"

	"golang.org/x/text/language"
	"golang.org/x/text/message"
)

//go:embed locales/*.json
var localeFS embed.FS

// langCookie remembers the language a user picked with the switch.
const langCookie = "hxchat_lang"

// locale is one language's catalogue of every string the pages show.
type locale struct {
	Lang  string // BCP 47 tag: "en", "ja"
	msgs  map[string]string
	print *message.Printer // numbers in the language's format
}

// Num formats a count as the language writes it (1,234).
func (l *locale) Num(n int64) string { return l.print.Sprintf("%d", n) }

// T returns the message key, formatted with args (fmt verbs). A missing key
// shows as itself; TestLocales makes sure none is missing.
func (l *locale) T(key string, args ...any) string {
	m, ok := l.msgs[key]
	if !ok {
		return key
	}
	if len(args) > 0 {
		return fmt.Sprintf(m, args...)
	}
	return m
}

// msg is T without arguments: the message key as it is, or the key when
// it is missing.
func (l *locale) msg(key string) string {
	if m, ok := l.msgs[key]; ok {
		return m
	}
	return key
}

// HTML returns a message whose key ends in ".html": trusted markup from the
// catalogue, never from users.
func (l *locale) HTML(key string) template.HTML {
	if !strings.HasSuffix(key, ".html") {
		return template.HTML(template.HTMLEscapeString(l.T(key)))
	}
	return template.HTML(l.T(key))
}

// Other is the language the switch offers.
func (l *locale) Other() string {
	if l.Lang == "ja" {
		return "en"
	}
	return "ja"
}

// locales holds every catalogue and picks one per request.
type locales struct {
	byLang  map[string]*locale
	def     *locale
	matcher language.Matcher
	// accepted remembers the language of an Accept-Language header
	// (string → *locale), nAccepted how many it holds.
	accepted  sync.Map
	nAccepted atomic.Int64
}

// supported lists the languages in order of preference when nothing else
// decides: English first.
var supported = []string{"en", "ja"}

func loadLocales() (*locales, error) {
	ls := &locales{byLang: make(map[string]*locale)}
	var tags []language.Tag
	for _, lang := range supported {
		b, err := localeFS.ReadFile("locales/" + lang + ".json")
		if err != nil {
			return nil, err
		}
		l := &locale{Lang: lang, print: message.NewPrinter(language.Make(lang))}
		if err := json.Unmarshal(b, &l.msgs); err != nil {
			return nil, fmt.Errorf("locales/%s.json: %w", lang, err)
		}
		ls.byLang[lang] = l
		tags = append(tags, language.Make(lang))
	}
	ls.def = ls.byLang[supported[0]]
	// Every catalogue must have exactly the keys of the first.
	want := slices.Sorted(maps.Keys(ls.def.msgs))
	for _, lang := range supported[1:] {
		if got := slices.Sorted(maps.Keys(ls.byLang[lang].msgs)); !slices.Equal(got, want) {
			return nil, fmt.Errorf("locales/%s.json: its keys differ from locales/%s.json", lang, supported[0])
		}
	}
	ls.matcher = language.NewMatcher(tags)
	return ls, nil
}

// pick returns the request's language: the one picked with the switch (a
// cookie), else the best match of Accept-Language, else English.
func (ls *locales) pick(r *http.Request) *locale {
	if c, err := r.Cookie(langCookie); err == nil {
		if l, ok := ls.byLang[c.Value]; ok {
			return l
		}
	}
	if al := r.Header.Get("Accept-Language"); al != "" {
		return ls.accept(al)
	}
	return ls.def
}

// acceptCached is how many Accept-Language headers locales remembers the
// language of: browsers send few different ones, and a client that sends
// ever new ones only fills the memory up to here.
const acceptCached = 1024

// accept returns the best match of an Accept-Language header, else the
// default language. Parsing and matching the header cost more than the rest
// of serving a cached page, so the answer for each header is remembered.
func (ls *locales) accept(al string) *locale {
	if l, ok := ls.accepted.Load(al); ok {
		return l.(*locale)
	}
	l := ls.def
	tags, _, err := language.ParseAcceptLanguage(al)
	if err == nil && len(tags) > 0 {
		_, i, conf := ls.matcher.Match(tags...)
		if conf != language.No {
			l = ls.byLang[supported[i]]
		}
	}
	if len(al) <= 256 && ls.nAccepted.Load() < acceptCached {
		if _, loaded := ls.accepted.LoadOrStore(al, l); !loaded {
			ls.nAccepted.Add(1)
		}
	}
	return l
}

// get returns the catalogue of lang, or the default one.
func (ls *locales) get(lang string) *locale {
	if l, ok := ls.byLang[lang]; ok {
		return l
	}
	return ls.def
}
