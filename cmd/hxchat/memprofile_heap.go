//go:build memprofile

package main

import (
	"io"
	"runtime/pprof"
)

// With -tags memprofile, HXCHAT_MEMPROFILE also writes the heap profile: the
// live heap as of the last collection (a forced one is not wanted at the
// peak it is to show).
func init() {
	writeHeapProfile = func(w io.Writer) error { return pprof.Lookup("heap").WriteTo(w, 0) }
}
