package web

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/hxchat/hxchat"
)

// convItemView is one entry of the conversation list.
type convItemView struct {
	Conv    hxchat.Conversation
	Current bool // the page shows this conversation
	L       *locale
	Query   string // the search it was found by, if any (see Found)
	// ID and Title are Conv's, and the labels are formatted with its
	// title, when the view is made (convItem): the template reads them as
	// fields, where a field of a field and a call of tf cost more through
	// reflection at every render.
	ID, Title                              string
	ActionsLabel, DeleteConfirm, MoreLabel string
}

func convItem(c hxchat.Conversation, current string, l *locale) convItemView {
	return convItemView{Conv: c, Current: c.ID == current, L: l, ID: c.ID, Title: c.Title,
		ActionsLabel: l.T("nav.actions", c.Title), DeleteConfirm: l.T("nav.delete.confirm", c.Title), MoreLabel: l.T("nav.more", c.Title)}
}

// currentConversation returns the id of the conversation that the page
// sending an htmx request shows (from HX-Current-URL), or "".
func currentConversation(r *http.Request) string {
	u, err := url.Parse(r.Header.Get("HX-Current-URL"))
	if err != nil {
		return ""
	}
	id, ok := strings.CutPrefix(u.Path, "/c/")
	if !ok || !hxchat.ValidID(id) {
		return ""
	}
	return id
}

// conversationList answers the sidebar's search box: the session's
// conversations whose title or messages contain q.
func (s *Server) conversationList(w http.ResponseWriter, r *http.Request) error {
	p := Page{L: s.locales.pick(r), CurrentID: currentConversation(r), Query: strings.TrimSpace(r.FormValue("q"))}
	if sid := sessionID(r); sid != "" {
		list, err := s.o.Store.SearchConversations(r.Context(), sid, p.Query)
		if err != nil {
			return err
		}
		p.Conversations = list
	}
	s.tpl.write(w, http.StatusOK, p.L, "conv-list", p)
	return nil
}

// conversationEntry shows one entry of the list with template name: as a
// link ("conv-item", the Cancel of a rename) or as a rename form
// ("conv-rename").
func (s *Server) conversationEntry(name string) handlerFunc {
	return func(w http.ResponseWriter, r *http.Request) error {
		conv, err := s.ownedConversation(r)
		if err != nil {
			return err
		}
		l := s.locales.pick(r)
		s.tpl.write(w, http.StatusOK, l, name, convItem(*conv, currentConversation(r), l))
		return nil
	}
}

// conversationRename saves a new title and shows the entry again (and the
// page's heading, when the page shows that conversation).
func (s *Server) conversationRename(w http.ResponseWriter, r *http.Request) error {
	conv, err := s.ownedConversation(r)
	if err != nil {
		return err
	}
	if err := readForm(w, r); err != nil {
		return err
	}
	title := strings.TrimSpace(r.PostFormValue("title"))
	if !utf8.ValidString(title) || strings.ContainsRune(title, 0) {
		return userError(hxchat.EInvalid, "error.binary")
	}
	if title == "" {
		return userError(hxchat.EInvalid, "error.title_empty")
	}
	if err := s.o.Store.RenameConversation(r.Context(), conv.SessionID, conv.ID, title); err != nil {
		return err
	}
	if conv, err = s.o.Store.Conversation(r.Context(), conv.SessionID, conv.ID); err != nil {
		return err
	}
	l := s.locales.pick(r)
	s.tpl.write(w, http.StatusOK, l, "conv-renamed", convItem(*conv, currentConversation(r), l))
	return nil
}

// conversationDelete deletes a conversation, after stopping its running
// answers. The page that showed it goes to a new chat; any other page gets
// its list again.
func (s *Server) conversationDelete(w http.ResponseWriter, r *http.Request) error {
	conv, msgs, err := s.ownedMessages(r)
	if err != nil {
		return err
	}
	if err := readForm(w, r); err != nil {
		return err
	}
	for _, m := range msgs {
		if m.State == hxchat.StateStreaming && !s.o.Runner.Stop(m.ID) && s.o.Cluster != nil {
			// Another replica generates it: stop it there, so that it
			// does not run on for a conversation that is gone.
			ctx, cancel := context.WithTimeout(r.Context(), 5*time.Second)
			s.stopElsewhere(ctx, &m)
			cancel()
		}
	}
	if err := s.o.Store.DeleteConversation(r.Context(), conv.SessionID, conv.ID); err != nil {
		return err
	}
	if currentConversation(r) == conv.ID {
		w.Header().Set("HX-Redirect", "/")
		w.WriteHeader(http.StatusNoContent)
		return nil
	}
	return s.conversationList(w, r)
}

// langSet remembers the language picked with the switch and goes back to
// the page it was picked on.
func (s *Server) langSet(w http.ResponseWriter, r *http.Request) error {
	if err := readForm(w, r); err != nil {
		return err
	}
	l := s.locales.get(r.PostFormValue("lang"))
	http.SetCookie(w, &http.Cookie{
		Name: langCookie, Value: l.Lang, Path: "/", MaxAge: 400 * 24 * 60 * 60,
		HttpOnly: true, Secure: s.https(r), SameSite: http.SameSiteLaxMode,
	})
	next := r.PostFormValue("next")
	if !strings.HasPrefix(next, "/") || strings.HasPrefix(next, "//") || strings.HasPrefix(next, "/\\") {
		next = "/" // only a path of this site: no open redirect
	}
	http.Redirect(w, r, next, http.StatusSeeOther)
	return nil
}
