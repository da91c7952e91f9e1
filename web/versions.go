package web

import (
	"context"
	"net/http"
	"strconv"

	"github.com/hxchat/hxchat"
)

// versionNav places a message among its versions (an edited question, a
// regenerated answer): the bubble shows "‹ 2/3 ›" when there are several.
type versionNav struct {
	Version  int   // 1 for the oldest
	Versions int   // how many there are
	Prev     int64 // the version before, 0 for none
	Next     int64 // the version after, 0 for none
}

// navOf returns where message id stands among its versions in th.
func navOf(th *hxchat.Thread, id int64) versionNav {
	vs := th.Versions(id)
	for i, v := range vs {
		if v != id {
			continue
		}
		n := versionNav{Version: i + 1, Versions: len(vs)}
		if i > 0 {
			n.Prev = vs[i-1]
		}
		if i+1 < len(vs) {
			n.Next = vs[i+1]
		}
		return n
	}
	return versionNav{}
}

// VersionURL is where a version's button posts to show version id of the
// message's conversation, with the rest of its branch.
func (v messageView) VersionURL(id int64) string {
	return "/c/" + v.ConversationID + "/m/" + strconv.FormatInt(id, 10) + "/show"
}

// ownedThread loads the conversation in the path, if the request's session
// owns it, and its messages as a tree of versions.
func (s *Server) ownedThread(r *http.Request) (*hxchat.Conversation, *hxchat.Thread, error) {
	conv, msgs, err := s.ownedMessages(r)
	if err != nil {
		return nil, nil, err
	}
	return conv, hxchat.NewThread(msgs), nil
}

// branchViews returns the messages of a branch as the page shows them, each
// placed among its versions. An answer that is still being written shows
// its text so far and opens its stream to follow it.
func (s *Server) branchViews(r *http.Request, conv *hxchat.Conversation, th *hxchat.Thread, branch []hxchat.Message, l *locale) ([]messageView, error) {
	views := make([]messageView, 0, len(branch))
	for i, m := range branch {
		v := s.render.view(m, l)
		if m.State == hxchat.StateStreaming {
			if st, ok := s.o.Hub.Get(m.ID); ok {
				if snap := st.Snapshot(); !snap.Ended {
					// The stream is fresher than the last checkpoint.
					v = s.render.viewAt(m, l, snap)
					v.Live = true
				} else {
					// It ended after the messages were read: show its end.
					fm, err := s.o.Store.Message(r.Context(), conv.ID, m.ID)
					if err != nil {
						return nil, err
					}
					v = s.render.view(*fm, l)
				}
			} else if s.o.Cluster != nil {
				// Another replica generates it: its stream is relayed.
				v.Live = true
			}
		}
		v.Nav = navOf(th, m.ID)
		v.Last = i == len(branch)-1
		views = append(views, v)
	}
	return views, nil
}

// versionShow shows another version of a message, with the rest of its
// branch (down to the latest message under it), and remembers the choice:
// a reload shows the same branch. It answers with the whole log.
func (s *Server) versionShow(w http.ResponseWriter, r *http.Request) error {
	conv, th, err := s.ownedThread(r)
	if err != nil {
		return err
	}
	if err := readForm(w, r); err != nil {
		return err
	}
	mid, err := strconv.ParseInt(r.PathValue("mid"), 10, 64)
	if _, ok := th.Message(mid); err != nil || !ok {
		return hxchat.ErrNotFound
	}
	leaf := th.Leaf(mid)
	if err := s.o.Store.SelectBranch(r.Context(), conv.SessionID, conv.ID, leaf); err != nil {
		return err
	}
	l := s.locales.pick(r)
	views, err := s.branchViews(r, conv, th, th.Branch(leaf), l)
	if err != nil {
		return err
	}
	s.tpl.write(w, http.StatusOK, l, "log", views)
	return nil
}

// versionButtonView is the ‹ (Dir "prev") or › ("next") button of a
// message's versions; ID is the version it shows, 0 for none (disabled).
type versionButtonView struct {
	L   *locale
	ID  int64
	URL string
	Dir string
}

// versionButton is the button of v's versions that shows version id.
func versionButton(v messageView, id int64, dir string) versionButtonView {
	return versionButtonView{L: v.L, ID: id, URL: v.VersionURL(id), Dir: dir}
}

// versioned returns message m as the page shows it, placed among its
// versions; for the end of a stream that the runner's own final event no
// longer holds (that one is placed when the answer starts).
func (s *Server) versioned(ctx context.Context, m hxchat.Message, l *locale) messageView {
	v := s.render.view(m, l)
	if msgs, err := s.o.Store.Messages(ctx, m.ConversationID); err == nil {
		v.Nav = navOf(hxchat.NewThread(msgs), m.ID)
	}
	return v
}
