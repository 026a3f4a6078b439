// Package workerpool is the seed's fixed-size worker pool: N goroutines behind a
// buffered job queue, with blocking and non-blocking submit and a graceful shutdown.
package workerpool

import (
	"context"
	"time"
)

// Job is one unit of work. Execute gets a context that is cancelled when the pool's
// shutdown timeout runs out.
type Job interface {
	Execute(ctx context.Context) error
	ID() string
}

// Result reports how one job ended.
type Result struct {
	JobID    string
	Success  bool
	Error    error
	Duration time.Duration
}
