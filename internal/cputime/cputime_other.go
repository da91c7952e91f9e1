//go:build !unix

package cputime

import "time"

// process cannot read the process's CPU time here.
func process() (time.Duration, bool) { return 0, false }
