package messaging

import "golang.org/x/sys/unix"

// MonotonicNs is CLOCK_MONOTONIC in nanoseconds: the clock poolbench's load generator
// and sink stamp with, shared by every process on one Linux host. A stamp poolbench
// compares with its own (X-Poolbench-Started-Ns) must come from it, not from time.Now(),
// whose wall reading moves when the clock is stepped.
func MonotonicNs() int64 {
	var ts unix.Timespec
	if err := unix.ClockGettime(unix.CLOCK_MONOTONIC, &ts); err != nil {
		// Cannot happen on Linux (CLOCK_MONOTONIC always exists); a zero stamp would
		// be a wrong latency, so stop instead.
		panic("clock_gettime(CLOCK_MONOTONIC): " + err.Error())
	}
	return ts.Nano()
}
