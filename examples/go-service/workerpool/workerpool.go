package workerpool

import (
	"context"
	"errors"
	"fmt"
	"log"
	"sync"
	"sync/atomic"
	"time"
)

// ErrQueueFull is returned by TrySubmit when every queue slot is taken.
var ErrQueueFull = errors.New("worker pool job queue is full")

// ErrStopped is returned by the submit methods once Stop has been called.
var ErrStopped = errors.New("worker pool is stopped")

// DefaultShutdownTimeout is the seed's 30 s wait for queued and running jobs.
const DefaultShutdownTimeout = 30 * time.Second

// Pool is a fixed number of workers reading from one buffered queue.
type Pool struct {
	workers int
	logger  *log.Logger

	jobs    chan Job
	results chan Result

	ctx    context.Context
	cancel context.CancelFunc

	// mu guards stopped; submitting counts Submit calls that may still send on jobs,
	// so that Stop closes the queue only once no sender is left.
	mu         sync.RWMutex
	stopped    bool
	stopping   chan struct{}
	submitting sync.WaitGroup
	workerWG   sync.WaitGroup
	startOnce  sync.Once
	stopOnce   sync.Once

	// full is set while the queue is known to be full, so the warning is logged once
	// per full episode instead of once per blocked submit.
	full atomic.Bool
}

// New makes a pool of `workers` workers (at least 1) and a queue of `buffer` slots
// (0: a job is handed straight to an idle worker).
func New(workers, buffer int, logger *log.Logger) *Pool {
	if workers < 1 {
		workers = 1
	}
	if buffer < 0 {
		buffer = 0
	}
	if logger == nil {
		logger = log.Default()
	}
	ctx, cancel := context.WithCancel(context.Background())
	return &Pool{
		workers:  workers,
		logger:   logger,
		jobs:     make(chan Job, buffer),
		results:  make(chan Result, buffer+workers),
		ctx:      ctx,
		cancel:   cancel,
		stopping: make(chan struct{}),
	}
}

// Start launches the workers; calling it again does nothing.
func (p *Pool) Start() {
	p.startOnce.Do(func() {
		p.logger.Printf("Starting worker pool with %d workers", p.workers)
		for i := 0; i < p.workers; i++ {
			p.workerWG.Add(1)
			go p.work()
		}
	})
}

func (p *Pool) work() {
	defer p.workerWG.Done()
	for job := range p.jobs {
		started := time.Now()
		err := p.run(job)
		result := Result{JobID: job.ID(), Success: err == nil, Error: err, Duration: time.Since(started)}
		// Results wait for a reader, except past the shutdown timeout, when a result
		// with nobody left to read it is dropped rather than blocking the exit.
		select {
		case p.results <- result:
		case <-p.ctx.Done():
			select {
			case p.results <- result:
			default:
			}
		}
	}
}

// run executes one job; a panicking job is reported as failed instead of killing its worker.
func (p *Pool) run(job Job) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("job panicked: %v", r)
		}
	}()
	return job.Execute(p.ctx)
}

// Results delivers one Result per job; it is closed once every worker has exited.
func (p *Pool) Results() <-chan Result {
	return p.results
}

// QueueLength is the number of jobs waiting for a worker.
func (p *Pool) QueueLength() int {
	return len(p.jobs)
}

// Submit queues a job, waiting for room (backpressure) until ctx is done or the pool stops.
func (p *Pool) Submit(ctx context.Context, job Job) error {
	if err := p.enter(); err != nil {
		return err
	}
	defer p.submitting.Done()
	select {
	case p.jobs <- job:
		p.full.Store(false)
		return nil
	default:
	}
	if p.full.CompareAndSwap(false, true) {
		p.logger.Printf("Worker pool job queue is full")
	}
	select {
	case p.jobs <- job:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	case <-p.stopping:
		return ErrStopped
	}
}

// TrySubmit queues a job if there is room, else returns ErrQueueFull at once.
func (p *Pool) TrySubmit(job Job) error {
	if err := p.enter(); err != nil {
		return err
	}
	defer p.submitting.Done()
	select {
	case p.jobs <- job:
		p.full.Store(false)
		return nil
	default:
		if p.full.CompareAndSwap(false, true) {
			p.logger.Printf("Worker pool job queue is full")
		}
		return ErrQueueFull
	}
}

func (p *Pool) enter() error {
	p.mu.RLock()
	defer p.mu.RUnlock()
	if p.stopped {
		return ErrStopped
	}
	p.submitting.Add(1)
	return nil
}

// Stop stops accepting jobs and waits for the queued and running ones with the
// default timeout.
func (p *Pool) Stop() bool {
	return p.StopWithTimeout(DefaultShutdownTimeout)
}

// StopWithTimeout stops accepting jobs and waits up to timeout for the queued and
// running ones; past it, the jobs' context is cancelled. It reports whether every
// job finished in time.
func (p *Pool) StopWithTimeout(timeout time.Duration) bool {
	finished := true
	p.stopOnce.Do(func() {
		p.mu.Lock()
		p.stopped = true
		p.mu.Unlock()
		close(p.stopping)
		p.submitting.Wait()
		close(p.jobs)

		done := make(chan struct{})
		go func() {
			p.workerWG.Wait()
			close(done)
		}()
		select {
		case <-done:
		case <-time.After(timeout):
			finished = false
			p.logger.Printf("Worker pool shutdown timeout")
			p.cancel()
			<-done
		}
		p.cancel()
		close(p.results)
		p.logger.Printf("Worker pool stopped")
	})
	return finished
}
