//go:build !linux

package generator

import "time"

// threadCPUTime is not known on this platform.
func threadCPUTime() (time.Duration, bool) { return 0, false }
