package web

import (
	"context"
	"errors"
	"io"
	"mime/multipart"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/hxchat/hxchat"
)

// chatNew shows an empty chat: the message box, and the list of the
// session's conversations.
func (s *Server) chatNew(w http.ResponseWriter, r *http.Request) error {
	p := s.basePage(r)
	if sessionID(r) == "" && p.User == nil {
		s.newChats.write(w, r, chatPage{Page: p, Models: s.o.Models})
		return nil
	}
	s.tpl.write(w, http.StatusOK, p.L, "chat.html", chatPage{Page: p, Models: s.o.Models})
	return nil
}

// conversationSettings saves a conversation's system prompt and model.
func (s *Server) conversationSettings(w http.ResponseWriter, r *http.Request) error {
	conv, err := s.ownedConversation(r)
	if err != nil {
		return err
	}
	if err := readForm(w, r); err != nil {
		return err // an unread form must not clear the prompt
	}
	prompt := strings.ReplaceAll(r.PostFormValue("system_prompt"), "\r\n", "\n")
	if !utf8.ValidString(prompt) || strings.ContainsRune(prompt, 0) {
		return userError(hxchat.EInvalid, "error.binary")
	}
	model := s.model(r.PostFormValue("model"))
	if err := s.o.Store.SetConversationOptions(r.Context(), conv.SessionID, conv.ID, prompt, model); err != nil {
		return err
	}
	conv.SystemPrompt, conv.Model = prompt, model
	p := chatPage{Page: Page{L: s.locales.pick(r)}, Conv: conv, Models: s.o.Models, Saved: true}
	s.tpl.write(w, http.StatusOK, p.L, "settings", p)
	return nil
}

// chatShow shows a conversation: the branch last chosen. An answer that is
// still being written shows its text so far and opens its stream to follow
// it.
func (s *Server) chatShow(w http.ResponseWriter, r *http.Request) error {
	conv, th, err := s.ownedThread(r)
	if err != nil {
		return err
	}
	p := chatPage{Page: s.basePage(r), Conv: conv, Models: s.o.Models}
	p.Title = conv.Title + " · hxchat"
	p.CurrentID = conv.ID
	if p.Messages, err = s.branchViews(r, conv, th, th.Branch(conv.CurrentID), p.L); err != nil {
		return err
	}
	s.tpl.write(w, http.StatusOK, p.L, "chat.html", p)
	return nil
}

// messageCreate stores the user's message and an answer to it, starts
// generating the answer, and answers at once with both bubbles; the answer's
// bubble opens its event stream. Without a conversation id in the path it
// starts a new conversation.
func (s *Server) messageCreate(w http.ResponseWriter, r *http.Request) error {
	text, err := s.messageText(w, r)
	if err != nil {
		return err
	}
	isNew, newSession := r.PathValue("id") == "", false
	if isNew {
		// Only a new conversation makes a session: a message to a
		// conversation needs the session that owns it (else 404 below).
		newSession = sessionID(r) == ""
		r = s.ensureSession(w, r)
	}
	if err := s.admitHere(r, newSession); err != nil {
		return err // before anything is stored: the text stays in the box
	}
	conv := &hxchat.Conversation{ID: hxchat.NewID(), SessionID: sessionID(r), Title: hxchat.TitleFrom(text),
		SystemPrompt: s.o.SystemPrompt, Model: s.model(r.PostFormValue("model"))}
	var history []hxchat.Message
	user := &hxchat.Message{Role: hxchat.RoleUser, Content: text, State: hxchat.StateDone}
	if !isNew {
		// The question follows the branch shown.
		var th *hxchat.Thread
		if conv, th, err = s.ownedThread(r); err != nil {
			return err
		}
		history = th.Branch(conv.CurrentID)
		if n := len(history); n > 0 {
			if history[n-1].State == hxchat.StateStreaming {
				return userError(hxchat.EConflict, "error.busy")
			}
			user.ParentID = history[n-1].ID
		}
	}
	answer := s.newAnswer(conv)
	if err := s.o.Store.StartTurn(r.Context(), conv, user, answer); err != nil {
		return err
	}
	l := s.locales.pick(r)
	s.start(r, conv, answer, append(history, *user), l, versionNav{})

	v := turnView{User: s.render.view(*user, l), Answer: s.render.view(*answer, l)}
	v.Answer.Live = answer.State == hxchat.StateStreaming
	if !isNew {
		// The conversation goes to the top of the list.
		item := convItem(*conv, conv.ID, l)
		v.Moved = &item
	} else {
		// The new conversation goes to the top of the list: the rest of
		// the list is as it was, and is not rendered again.
		p := chatPage{Page: s.page(r), Conv: conv, Models: s.o.Models}
		p.Title = conv.Title + " · hxchat"
		p.CurrentID = conv.ID
		v.NewConv = &p
		w.Header().Set("HX-Push-Url", "/c/"+conv.ID)
	}
	s.tpl.write(w, http.StatusOK, l, "turn", v)
	return nil
}

// model returns name if it is one of the configured models, else the
// default ("" on the demo model).
func (s *Server) model(name string) string {
	if slices.Contains(s.o.Models, name) {
		return name
	}
	if len(s.o.Models) > 0 {
		return s.o.Models[0]
	}
	return ""
}

// newAnswer returns the empty answer to a message of conv, to be stored.
func (s *Server) newAnswer(conv *hxchat.Conversation) *hxchat.Message {
	model := s.model(conv.Model)
	if model == "" {
		model = s.o.Model
	}
	return &hxchat.Message{Role: hxchat.RoleAssistant, State: hxchat.StateStreaming, Model: model}
}

// start starts generating answer from the conversation's settings and
// history (the branch it follows); nav places the answer among its versions
// when it ends. When the runner refuses (it is shutting down), the answer is
// stored as failed at once, with Retry offered: the user's message is kept
// either way.
func (s *Server) start(r *http.Request, conv *hxchat.Conversation, answer *hxchat.Message, history []hxchat.Message, l *locale, nav versionNav) {
	req := hxchat.ChatRequest{Model: s.model(conv.Model), System: conv.SystemPrompt, Messages: turns(history)}
	answer.RequestID = requestID(r) // stored with its end; a failure shows it
	err := s.o.Runner.Start(answer, sessionID(r), req, s.render.openAt(answer, l, nav))
	if err == nil {
		return
	}
	answer.State, answer.ErrorCode = hxchat.StateError, hxchat.Code(err)
	if err := s.o.Store.FinishAnswer(r.Context(), answer); err != nil {
		s.log.Error("store a refused answer", "err", err)
	}
}

// answerStop stops a running answer. The answer's stream then shows it as
// stopped, with its text so far.
func (s *Server) answerStop(w http.ResponseWriter, r *http.Request) error {
	m, err := s.ownedMessage(r)
	if err != nil {
		return err
	}
	if err := readForm(w, r); err != nil {
		return err
	}
	// The answer's end is stored before Stop answers (a few milliseconds),
	// so that the next message is not refused as coming too early.
	ctx, cancel := context.WithTimeout(r.Context(), 5*time.Second)
	defer cancel()
	if !s.o.Runner.StopWait(ctx, m.ID) && m.State == hxchat.StateStreaming && s.o.Cluster != nil {
		s.stopElsewhere(ctx, m) // another replica generates it
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// answerRetry generates an answer again (Retry of a failed, stopped or
// interrupted one; Regenerate of a finished one): the new answer is a new
// version of it, which the page shows; the old one stays a version away.
// When the old answer ended the branch shown, the new bubble replaces it;
// else the whole log shows the new branch.
func (s *Server) answerRetry(w http.ResponseWriter, r *http.Request) error {
	conv, th, err := s.ownedThread(r)
	if err != nil {
		return err
	}
	old, err := threadMessage(r, th)
	if err != nil {
		return err
	}
	if err := readForm(w, r); err != nil {
		return err
	}
	last := th.Leaf(conv.CurrentID) == old.ID
	if err := s.admitHere(r, false); err != nil {
		return err
	}
	answer := s.newAnswer(conv)
	if err := s.o.Store.RestartAnswer(r.Context(), &old, answer); err != nil {
		return err
	}
	vs := th.Versions(old.ID)
	nav := versionNav{Version: len(vs) + 1, Versions: len(vs) + 1, Prev: vs[len(vs)-1]}
	l := s.locales.pick(r)
	s.start(r, conv, answer, th.Path(old.ParentID), l, nav)
	item := convItem(*conv, conv.ID, l)
	if last {
		v := s.render.view(*answer, l)
		v.Live, v.Last, v.Nav = answer.State == hxchat.StateStreaming, true, nav
		s.tpl.write(w, http.StatusOK, l, "message-moved", movedView{Message: v, Moved: item})
		return nil
	}
	return s.writeBranch(w, r, conv, answer.ID, item, l)
}

// writeBranch answers with the log of the branch that ends with message
// leaf, read anew, and moves the conversation to the top of the list.
func (s *Server) writeBranch(w http.ResponseWriter, r *http.Request, conv *hxchat.Conversation, leaf int64, item convItemView, l *locale) error {
	msgs, err := s.o.Store.Messages(r.Context(), conv.ID)
	if err != nil {
		return err
	}
	th := hxchat.NewThread(msgs)
	views, err := s.branchViews(r, conv, th, th.Path(leaf), l)
	if err != nil {
		return err
	}
	s.tpl.write(w, http.StatusOK, l, "log-moved", movedView{Log: views, Moved: item})
	return nil
}

// threadMessage returns the message in the path, if th has it.
func threadMessage(r *http.Request, th *hxchat.Thread) (hxchat.Message, error) {
	mid, err := strconv.ParseInt(r.PathValue("mid"), 10, 64)
	if err != nil {
		return hxchat.Message{}, hxchat.ErrNotFound
	}
	m, ok := th.Message(mid)
	if !ok {
		return hxchat.Message{}, hxchat.ErrNotFound
	}
	return m, nil
}

// messageSource answers a message's text as it was written (the Markdown
// of an answer), for its Copy button.
func (s *Server) messageSource(w http.ResponseWriter, r *http.Request) error {
	m, err := s.ownedMessage(r)
	if err != nil {
		return err
	}
	if st, ok := s.o.Hub.Get(m.ID); ok && m.State == hxchat.StateStreaming {
		m.Content = st.Snapshot().Text
	}
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.Write([]byte(m.Content))
	return nil
}

// turns makes the history sent to the model: every user message, and every
// answer that has text (a stopped or cut-off answer counts with what it said).
func turns(msgs []hxchat.Message) []hxchat.Turn {
	t := make([]hxchat.Turn, 0, len(msgs))
	for _, m := range msgs {
		if m.Role == hxchat.RoleAssistant && m.Content == "" {
			continue
		}
		t = append(t, hxchat.Turn{Role: m.Role, Content: m.Content})
	}
	return t
}

// messageText reads and checks the posted field "message".
func (s *Server) messageText(w http.ResponseWriter, r *http.Request) (string, error) {
	max := s.o.MaxMessageBytes
	// A form-encoded byte can take three; leave room for the other fields.
	r.Body = http.MaxBytesReader(w, r.Body, int64(3*max+4096))
	if err := r.ParseForm(); err != nil {
		if _, ok := errors.AsType[*http.MaxBytesError](err); ok {
			return "", tooLong(max)
		}
		return "", userError(hxchat.EInvalid, "error.unreadable")
	}
	text := strings.ReplaceAll(r.PostForm.Get("message"), "\r\n", "\n")
	switch {
	case strings.TrimSpace(text) == "":
		return "", userError(hxchat.EInvalid, "error.empty")
	case len(text) > max:
		return "", tooLong(max)
	case !utf8.ValidString(text) || strings.ContainsRune(text, 0):
		return "", userError(hxchat.EInvalid, "error.binary")
	}
	return text, nil
}

// maxFormBytes is the largest body of a form other than a message: a title,
// a system prompt, or none (stop, retry, delete).
const maxFormBytes = 256 << 10

// readForm reads the posted form, of at most maxFormBytes: a larger body is
// refused as too large, one that cannot be read (malformed, or cut off by
// the body timeout) as invalid, so that a handler never acts on a form it
// did not get. A body that is not a form is read too, for its size.
func readForm(w http.ResponseWriter, r *http.Request) error {
	r.Body = http.MaxBytesReader(w, r.Body, maxFormBytes)
	err := r.ParseForm()
	if err == nil {
		if err = r.ParseMultipartForm(maxFormBytes); errors.Is(err, http.ErrNotMultipart) {
			err = nil
		}
	}
	if err == nil {
		_, err = io.Copy(io.Discard, r.Body)
	}
	if _, ok := errors.AsType[*http.MaxBytesError](err); ok || errors.Is(err, multipart.ErrMessageTooLarge) {
		return userError(hxchat.ETooLarge, "error.code.too_large")
	}
	if err != nil {
		return userError(hxchat.EInvalid, "error.code.invalid")
	}
	return nil
}

// ownedConversation loads the conversation in the path if the request's
// session owns it. Anything else is not found, so that nobody learns whether
// an id exists.
func (s *Server) ownedConversation(r *http.Request) (*hxchat.Conversation, error) {
	id, sid := r.PathValue("id"), sessionID(r)
	if sid == "" || !hxchat.ValidID(id) {
		return nil, hxchat.ErrNotFound
	}
	return s.o.Store.Conversation(r.Context(), sid, id)
}

// ownedMessages loads the conversation in the path, if the request's
// session owns it, and its messages.
func (s *Server) ownedMessages(r *http.Request) (*hxchat.Conversation, []hxchat.Message, error) {
	conv, err := s.ownedConversation(r)
	if err != nil {
		return nil, nil, err
	}
	msgs, err := s.o.Store.Messages(r.Context(), conv.ID)
	if err != nil {
		return nil, nil, err
	}
	return conv, msgs, nil
}

// ownedMessage loads the message in the path, if the request's session
// owns its conversation: one query (Store.OwnedMessage), as every event
// stream's request makes one.
func (s *Server) ownedMessage(r *http.Request) (*hxchat.Message, error) {
	id, sid := r.PathValue("id"), sessionID(r)
	mid, err := strconv.ParseInt(r.PathValue("mid"), 10, 64)
	if sid == "" || !hxchat.ValidID(id) || err != nil || mid <= 0 {
		return nil, hxchat.ErrNotFound
	}
	return s.o.Store.OwnedMessage(r.Context(), sid, id, mid)
}

// messageShow renders one message (Cancel of an edit), with its versions.
func (s *Server) messageShow(w http.ResponseWriter, r *http.Request) error {
	m, err := s.ownedMessage(r)
	if err != nil {
		return err
	}
	l := s.locales.pick(r)
	s.tpl.write(w, http.StatusOK, l, "message", s.versioned(r.Context(), *m, l))
	return nil
}

// messageEditForm turns a user message into a form to change it.
func (s *Server) messageEditForm(w http.ResponseWriter, r *http.Request) error {
	m, err := s.ownedMessage(r)
	if err != nil {
		return err
	}
	if m.Role != hxchat.RoleUser {
		return hxchat.ErrNotFound
	}
	l := s.locales.pick(r)
	s.tpl.write(w, http.StatusOK, l, "message-edit", s.render.view(*m, l))
	return nil
}

// messageEdit sends a changed question: a new version of the user
// message, with a new answer, which the page shows; the old version and what
// followed it stay a version away. It answers with the whole log.
func (s *Server) messageEdit(w http.ResponseWriter, r *http.Request) error {
	text, err := s.messageText(w, r)
	if err != nil {
		return err
	}
	conv, th, err := s.ownedThread(r)
	if err != nil {
		return err
	}
	user, err := threadMessage(r, th)
	if err != nil {
		return err
	}
	if err := s.admitHere(r, false); err != nil {
		return err
	}
	history := th.Path(user.ParentID)
	user.Content = text
	answer := s.newAnswer(conv)
	if err := s.o.Store.EditTurn(r.Context(), &user, answer); err != nil {
		return err
	}
	l := s.locales.pick(r)
	s.start(r, conv, answer, append(history, user), l, versionNav{Version: 1, Versions: 1})
	return s.writeBranch(w, r, conv, answer.ID, convItem(*conv, conv.ID, l), l)
}
