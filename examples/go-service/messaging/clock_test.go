package messaging

import (
	"testing"
	"time"
)

// MonotonicNs counts from boot (far below wall-clock ns since the epoch, ~1.7e18) and
// advances with real time.
func TestMonotonicNsIsCLOCK_MONOTONIC(t *testing.T) {
	before := MonotonicNs()
	time.Sleep(10 * time.Millisecond)
	after := MonotonicNs()
	if before <= 0 || after >= 1_000_000_000_000_000_000 {
		t.Fatalf("not CLOCK_MONOTONIC: %d, %d", before, after)
	}
	if gap := after - before; gap < int64(10*time.Millisecond) || gap > int64(time.Second) {
		t.Fatalf("10 ms sleep read as %d ns", gap)
	}
}
