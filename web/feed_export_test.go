package web

// SetFeedQueue sets the bound of a relayed reader's queue on a feed, and
// a pause before each of its writes to the browser (nil: none); the
// returned func restores both.
func SetFeedQueue(max int, pause func()) (restore func()) {
	oldMax, oldPause := feedQueueMax.Load(), relayPause.Load()
	feedQueueMax.Store(int64(max))
	if pause != nil {
		relayPause.Store(&pause)
	} else {
		relayPause.Store(nil)
	}
	return func() { feedQueueMax.Store(oldMax); relayPause.Store(oldPause) }
}
