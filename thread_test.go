package hxchat_test

import (
	"fmt"
	"slices"
	"testing"

	"github.com/hxchat/hxchat"
)

// ids lists the ids of msgs.
func ids(msgs []hxchat.Message) []int64 {
	out := []int64{}
	for _, m := range msgs {
		out = append(out, m.ID)
	}
	return out
}

// TestThread: versions are the messages with the same parent; a branch
// runs from a first question to a leaf; a message that is not a leaf leads
// to the latest leaf under it.
func TestThread(t *testing.T) {
	// 1 question, 2 answer; 3 question, 4 answer; 5 answer 3 regenerated;
	// 6 question 1 edited, 7 its answer; 8 question after 5, 9 its answer.
	// (Given out of order: the tree does not depend on it.)
	msgs := []hxchat.Message{
		{ID: 9, ParentID: 8}, {ID: 1}, {ID: 2, ParentID: 1}, {ID: 3, ParentID: 2}, {ID: 4, ParentID: 3},
		{ID: 5, ParentID: 3}, {ID: 6}, {ID: 7, ParentID: 6}, {ID: 8, ParentID: 5},
	}
	th := hxchat.NewThread(msgs)
	for _, tc := range []struct {
		id       int64
		versions []int64
		leaf     int64
		branch   []int64
	}{
		{1, []int64{1, 6}, 9, []int64{1, 2, 3, 5, 8, 9}},
		{6, []int64{1, 6}, 7, []int64{6, 7}},
		{2, []int64{2}, 9, []int64{1, 2, 3, 5, 8, 9}},
		{4, []int64{4, 5}, 4, []int64{1, 2, 3, 4}},
		{5, []int64{4, 5}, 9, []int64{1, 2, 3, 5, 8, 9}},
		{9, []int64{9}, 9, []int64{1, 2, 3, 5, 8, 9}},
		{0, nil, 9, []int64{1, 2, 3, 5, 8, 9}},  // none: the newest
		{42, nil, 9, []int64{1, 2, 3, 5, 8, 9}}, // unknown: the newest
	} {
		t.Run(fmt.Sprint(tc.id), func(t *testing.T) {
			if got := th.Versions(tc.id); !slices.Equal(got, tc.versions) {
				t.Errorf("Versions = %v, want %v", got, tc.versions)
			}
			if got := th.Leaf(tc.id); got != tc.leaf {
				t.Errorf("Leaf = %d, want %d", got, tc.leaf)
			}
			if got := ids(th.Branch(tc.id)); !slices.Equal(got, tc.branch) {
				t.Errorf("Branch = %v, want %v", got, tc.branch)
			}
		})
	}
	if got := ids(th.Path(5)); !slices.Equal(got, []int64{1, 2, 3, 5}) {
		t.Errorf("Path(5) = %v", got)
	}
	if got := th.Path(0); got == nil || len(got) != 0 {
		t.Errorf("Path(0) = %v", got)
	}
	if m, ok := th.Message(5); !ok || m.ParentID != 3 {
		t.Errorf("Message(5) = %+v, %v", m, ok)
	}
	if _, ok := th.Message(10); ok {
		t.Error("Message(10) found")
	}

	// No messages: an empty branch. A parent that is missing or not older
	// (no store writes one) makes a first question, never a loop.
	if b := hxchat.NewThread(nil).Branch(0); b == nil || len(b) != 0 {
		t.Errorf("empty thread: Branch = %v", b)
	}
	odd := hxchat.NewThread([]hxchat.Message{{ID: 1, ParentID: 2}, {ID: 2, ParentID: 1}, {ID: 3, ParentID: 99}})
	if got := ids(odd.Branch(2)); !slices.Equal(got, []int64{1, 2}) {
		t.Errorf("odd thread: Branch(2) = %v", got)
	}
	if got := odd.Versions(3); !slices.Equal(got, []int64{1, 3}) {
		t.Errorf("odd thread: Versions(3) = %v", got)
	}
}
