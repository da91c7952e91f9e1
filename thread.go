package hxchat

import (
	"cmp"
	"slices"
)

// Thread is a conversation's messages as a tree of versions. Every message
// follows its parent (ParentID); messages with the same parent are versions
// of one another, oldest first. A branch is the path from a first question
// down to a message with no reply, its leaf: what the page shows and what
// the model is sent.
//
// A message is always written after its parent, so its id is greater; the
// newest message under a message is therefore a leaf, the latest one.
type Thread struct {
	msgs     []Message         // in id order
	index    map[int64]int     // id -> position in msgs
	children map[int64][]int64 // parent id (0: none) -> ids, increasing
}

// NewThread builds the tree of msgs, every message of one conversation. A
// message whose parent is not among msgs counts as a first question.
func NewThread(msgs []Message) *Thread {
	t := &Thread{msgs: slices.Clone(msgs), index: make(map[int64]int, len(msgs)), children: make(map[int64][]int64)}
	slices.SortFunc(t.msgs, func(a, b Message) int { return cmp.Compare(a.ID, b.ID) })
	for i, m := range t.msgs {
		t.index[m.ID] = i
	}
	for _, m := range t.msgs {
		p := t.parent(m.ID)
		t.children[p] = append(t.children[p], m.ID)
	}
	return t
}

// Message returns the message id, and whether there is one.
func (t *Thread) Message(id int64) (Message, bool) {
	i, ok := t.index[id]
	if !ok {
		return Message{}, false
	}
	return t.msgs[i], true
}

// parent returns the parent of message id as the tree knows it: 0 for
// none, or for a parent that is missing or not older (which no store
// writes, and which could not make a tree).
func (t *Thread) parent(id int64) int64 {
	p := t.msgs[t.index[id]].ParentID
	if _, ok := t.index[p]; !ok || p >= id {
		return 0
	}
	return p
}

// Versions returns the ids of the versions of message id (itself among
// them), oldest first; nil when there is no message id.
func (t *Thread) Versions(id int64) []int64 {
	if _, ok := t.index[id]; !ok {
		return nil
	}
	return t.children[t.parent(id)]
}

// Leaf returns the latest leaf under message id: the newest message of its
// subtree (id itself when nothing follows it). For an unknown id (0
// included) it returns the newest message of the conversation, 0 when it has
// none.
func (t *Thread) Leaf(id int64) int64 {
	if _, ok := t.index[id]; !ok {
		if len(t.msgs) == 0 {
			return 0
		}
		return t.msgs[len(t.msgs)-1].ID
	}
	leaf := id
	stack := []int64{id}
	for len(stack) > 0 {
		n := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		leaf = max(leaf, n)
		stack = append(stack, t.children[n]...)
	}
	return leaf
}

// Branch returns the messages from the first question down to message
// leaf, in order. Given a message that is not a leaf, it goes on to the
// latest leaf under it; given an unknown id (0 included), it is the branch
// of the newest message.
func (t *Thread) Branch(leaf int64) []Message { return t.Path(t.Leaf(leaf)) }

// Path returns the messages from the first question down to message id, in
// order: id and what it follows. It is empty for an unknown id.
func (t *Thread) Path(id int64) []Message {
	b := []Message{}
	if _, ok := t.index[id]; !ok {
		return b
	}
	for id != 0 {
		b = append(b, t.msgs[t.index[id]])
		id = t.parent(id)
	}
	slices.Reverse(b)
	return b
}
