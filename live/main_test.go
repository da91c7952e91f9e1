package live

import (
	"testing"

	"go.uber.org/goleak"
)

// TestMain fails the package's tests if any goroutine outlives them: a
// generation or a reader that never ends.
func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }
