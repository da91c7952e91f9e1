package web

import (
	"html/template"
	"net/http"
	"strconv"
	"time"

	"github.com/hxchat/hxchat"
)

// Page is what every full page shows around its content.
type Page struct {
	L             *locale // the page's language
	Theme         string  // "light" or "dark" when picked with the switch; "" follows the system
	Path          string  // the page's own path, for the language switch
	Title         string
	Provider      string // which model answers
	Demo          bool   // the offline demo model answers
	Conversations []hxchat.Conversation
	CurrentID     string // the conversation shown, if any
	Query         string // what the conversation list is filtered by
	NoComposer    bool   // the page has no message box (an error page): the skip link leads to the content
	BannerHidden  bool   // the demo banner was dismissed (a cookie set by app.js)
	NoSidebar     bool   // the page shows no conversations (a refused sign-in)
	// User is the signed-in person, if people sign in.
	User *Identity
	// SignOutURL is where the sign-out link leads ("": none); with
	// SignOutPost it is a form's action (hxchat's own sign-out).
	SignOutURL  string
	SignOutPost bool
	// MaxMessageBytes is the longest message a user may send, for the
	// message box's counter.
	MaxMessageBytes int
}

// Items is the conversation list, each entry as the template shows it:
// made here, once for the list, rather than by two calls from the template
// for each entry, each through reflection.
func (p Page) Items() []convItemView {
	items := make([]convItemView, len(p.Conversations))
	for i, c := range p.Conversations {
		items[i] = convItem(c, p.CurrentID, p.L).Found(p.Query)
	}
	return items
}

// chatPage is a conversation, or a new chat when Conv is nil.
type chatPage struct {
	Page
	Conv     *hxchat.Conversation
	Messages []messageView
	Models   []string // to pick from, when more than one
	Saved    bool     // the settings were just saved
}

// NewItem is the conversation's entry in the list, for a conversation
// that its first message just created.
func (p chatPage) NewItem() convItemView { return convItem(*p.Conv, p.Conv.ID, p.L) }

// turnView is the answer to a sent message: both new bubbles, and for a new
// conversation the parts of the page that now point at it.
type turnView struct {
	User, Answer messageView
	NewConv      *chatPage     // set when the message started a conversation
	Moved        *convItemView // set otherwise: the conversation's entry, which goes to the top of the list
}

// movedView is a new answer (Message) or a branch of the log (Log), and the
// conversation's entry, which goes to the top of the list.
type movedView struct {
	Message messageView
	Log     []messageView
	Moved   convItemView
}

type alertView struct{ Message string }

type errorPage struct {
	Page
	Status  int
	Message string
	// Link and LinkText, when set, replace the way back to hxchat (to
	// sign in again).
	Link, LinkText string
	// Heading replaces the status as the page's heading.
	Heading string
}

// messageView is one message as the page shows it.
type messageView struct {
	hxchat.Message
	L *locale
	// Body is an answer's text as HTML (safe, from the Markdown renderer).
	Body template.HTML
	// Kept is set when the answer's text is not sent but kept from the
	// page (hx-preserve): the end of its stream, which built it.
	Kept bool
	// Wait, while the model service is asked again before the first
	// text, says when.
	Wait *hxchat.Retry
	// Live is set when the page should open the answer's stream: it is
	// being generated, by this process or by another replica.
	Live bool
	// Last is set on the last message of the conversation: a finished last
	// answer offers Regenerate.
	Last bool
	// RetryIn is, for an answer that failed because the service was busy,
	// how many seconds are left of the wait it asked for before a retry
	// (from the stored RetryAt); 0 if it did not say or the wait is over.
	RetryIn int
	// Nav places the message among its versions.
	Nav versionNav
	// IDs are the ids of the message's elements (set with Message).
	IDs messageIDs
	// Created is when the message was written, as the page shows it (set
	// with Message).
	Created createdTime

	// What the template tests and shows of the message's role and state,
	// made by settle from the fields above (set with Message): a call
	// from a template (eq, and, a method) goes through reflection.
	Class  string     // the article's classes: "msg user state-done"
	IsUser bool       // a user's message
	Done   bool       // an answer that ended normally
	End    *answerEnd // what an answer says of how it ended; nil if nothing
	Retry  bool       // CanRetry
	Usage  string     // an answer's tokens, as "answer.usage" says them; "" if not counted
}

// answerEnd is what the bubble of a finished answer says of how it ended.
type answerEnd struct {
	Countdown *countdownView // the wait the model service asked for (Countdown)
	Text      string         // else why it ended early (StatusText)
	RequestID string         // the request's id, when only an administrator can mend it (AskAdmin)
}

// settle sets the fields of v that its template tests (see Class), from
// the message, its language and RetryIn: once a view is made, and again
// when RetryIn changes.
func (v *messageView) settle() {
	v.Class = "msg " + string(v.Role) + " state-" + string(v.State)
	v.IsUser = v.Role == hxchat.RoleUser
	v.Done = v.State == hxchat.StateDone
	v.Retry = v.CanRetry()
	v.End = nil
	if v.State != hxchat.StateStreaming { // nothing to say while it is written
		e := answerEnd{Countdown: v.Countdown()}
		if e.Countdown == nil {
			e.Text = v.StatusText()
		}
		if v.AskAdmin() {
			e.RequestID = v.RequestID
		}
		if e != (answerEnd{}) {
			v.End = &e
		}
	}
	v.Usage = ""
	if u := v.Message.Usage; u.CompletionTokens != 0 {
		v.Usage = v.L.T("answer.usage", v.L.Num(u.PromptTokens), v.L.Num(u.CompletionTokens))
	}
}

// messageIDs are the ids of a message's elements and the base of its
// routes, made with its view (see bareView), so that the templates read
// fields: a method call from a template is looked up by name through
// reflection, which allocates, at every call.
type messageIDs struct {
	DOM  string // the message's element
	Body string // the element of an answer's text
	Wait string // the element that shows the wait of the model service
	SSE  string // the element that opens an answer's stream
	URL  string // the base of the message's own routes
}

// idsOf returns the ids of message m's elements.
func idsOf(m *hxchat.Message) messageIDs {
	dom := domID(m.ID)
	return messageIDs{DOM: dom, Body: dom + bodySuffix, Wait: dom + waitSuffix, SSE: dom + sseSuffix,
		URL: "/c/" + m.ConversationID + "/m/" + strconv.FormatInt(m.ID, 10)}
}

// createdTime is when a message was written, formatted once with its view
// rather than by method calls from the template, which reflection looks up
// by name at every call.
type createdTime struct {
	Datetime string // for the datetime attribute: RFC 3339
	UTC      string // for people: "2006-01-02 15:04 UTC"
}

// createdOf returns when message m was written, formatted.
func createdOf(m *hxchat.Message) createdTime {
	return createdTime{Datetime: m.CreatedAt.Format(time.RFC3339), UTC: m.CreatedAt.UTC().Format("2006-01-02 15:04 UTC")}
}

// Streaming reports whether the answer is still being written.
func (v messageView) Streaming() bool { return v.State == hxchat.StateStreaming }

// themeCookie remembers the theme picked with the switch (set by app.js).
const themeCookie = "hxchat_theme"

// bannerCookie remembers that the demo banner was dismissed (set by app.js).
const bannerCookie = "hxchat_banner"

// page returns what every page has, without the conversation list.
func (s *Server) page(r *http.Request) Page {
	p := Page{L: s.locales.pick(r), Path: r.URL.Path, Title: "hxchat", Provider: s.o.Provider, Demo: s.o.Demo,
		MaxMessageBytes: s.o.MaxMessageBytes}
	if c, err := r.Cookie(themeCookie); err == nil && (c.Value == "light" || c.Value == "dark") {
		p.Theme = c.Value
	}
	if c, err := r.Cookie(bannerCookie); err == nil && c.Value == "hidden" {
		p.BannerHidden = true
	}
	if p.User = identityOf(r); p.User != nil {
		switch s.o.SignIn.Mode {
		case AuthProxy:
			p.SignOutURL = s.o.SignIn.SignOutURL
		case AuthOIDC:
			p.SignOutURL, p.SignOutPost = "/auth/signout", true
		}
	}
	return p
}

// basePage is page with the session's conversations, for the list.
func (s *Server) basePage(r *http.Request) Page {
	p := s.page(r)
	if sid := sessionID(r); sid != "" {
		if list, err := s.o.Store.Conversations(r.Context(), sid); err == nil {
			p.Conversations = list
		} else {
			s.log.Error("list conversations", "err", err)
		}
	}
	return p
}

// StatusText says in plain words why an answer ended as it did; empty when
// it ended normally. The technical reason is in the log.
func (v messageView) StatusText() string {
	switch v.State {
	case hxchat.StateStopped:
		return v.L.T("answer.stopped")
	case hxchat.StateInterrupted:
		return v.L.T("answer.interrupted")
	case hxchat.StateDone:
		if v.FinishReason == hxchat.FinishLength {
			return v.L.T("answer.length")
		}
		return ""
	case hxchat.StateError:
		code := v.ErrorCode
		if code == "" {
			code = hxchat.EUpstream
		}
		if code == hxchat.ERateLimited && !v.RetryAt.IsZero() && v.RetryIn <= 0 {
			return v.L.T("error.code.rate_limited_now") // the wait it asked for is over
		}
		return codeText(v.L, code, v.RetryIn)
	}
	return ""
}
