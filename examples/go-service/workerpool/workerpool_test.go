package workerpool

import (
	"context"
	"errors"
	"io"
	"log"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

type funcJob struct {
	id string
	fn func(ctx context.Context) error
}

func (j funcJob) ID() string                        { return j.id }
func (j funcJob) Execute(ctx context.Context) error { return j.fn(ctx) }

func quiet() *log.Logger { return log.New(io.Discard, "", 0) }

func collect(p *Pool) <-chan []Result {
	out := make(chan []Result, 1)
	go func() {
		var all []Result
		for r := range p.Results() {
			all = append(all, r)
		}
		out <- all
	}()
	return out
}

func TestEveryJobYieldsOneResult(t *testing.T) {
	p := New(4, 8, quiet())
	p.Start()
	results := collect(p)
	var ran atomic.Int32
	for i := 0; i < 100; i++ {
		job := funcJob{id: "j", fn: func(context.Context) error { ran.Add(1); return nil }}
		if err := p.Submit(context.Background(), job); err != nil {
			t.Fatal(err)
		}
	}
	if !p.Stop() {
		t.Fatal("stop timed out")
	}
	if got := len(<-results); got != 100 || ran.Load() != 100 {
		t.Fatalf("results %d, ran %d, want 100", got, ran.Load())
	}
}

func TestFailingAndPanickingJobsAreReportedAndWorkersSurvive(t *testing.T) {
	p := New(1, 4, quiet())
	p.Start()
	results := collect(p)
	boom := errors.New("boom")
	_ = p.Submit(context.Background(), funcJob{id: "fail", fn: func(context.Context) error { return boom }})
	_ = p.Submit(context.Background(), funcJob{id: "panic", fn: func(context.Context) error { panic("x") }})
	_ = p.Submit(context.Background(), funcJob{id: "ok", fn: func(context.Context) error { return nil }})
	p.Stop()
	all := <-results
	if len(all) != 3 || !errors.Is(all[0].Error, boom) || all[1].Success || !all[2].Success {
		t.Fatalf("unexpected results: %+v", all)
	}
}

func TestTrySubmitOnAFullQueueFailsAtOnceAndSubmitWaits(t *testing.T) {
	p := New(1, 1, quiet())
	p.Start()
	results := collect(p)
	release := make(chan struct{})
	block := funcJob{id: "b", fn: func(context.Context) error { <-release; return nil }}
	_ = p.Submit(context.Background(), block) // taken by the worker
	time.Sleep(20 * time.Millisecond)
	_ = p.Submit(context.Background(), block) // fills the one slot
	if err := p.TrySubmit(block); !errors.Is(err, ErrQueueFull) {
		t.Fatalf("TrySubmit on a full queue: %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	if err := p.Submit(ctx, block); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Submit on a full queue: %v", err)
	}
	close(release)
	p.Stop()
	if got := len(<-results); got != 2 {
		t.Fatalf("results %d, want 2", got)
	}
}

func TestStopFinishesQueuedJobsAndRejectsNewOnes(t *testing.T) {
	p := New(2, 10, quiet())
	p.Start()
	results := collect(p)
	for i := 0; i < 10; i++ {
		_ = p.Submit(context.Background(), funcJob{id: "s", fn: func(context.Context) error {
			time.Sleep(5 * time.Millisecond)
			return nil
		}})
	}
	if !p.Stop() {
		t.Fatal("stop timed out")
	}
	if err := p.TrySubmit(funcJob{id: "late"}); !errors.Is(err, ErrStopped) {
		t.Fatalf("submit after stop: %v", err)
	}
	if got := len(<-results); got != 10 {
		t.Fatalf("results %d, want 10", got)
	}
}

func TestStopTimeoutCancelsRunningJobs(t *testing.T) {
	p := New(1, 1, quiet())
	p.Start()
	results := collect(p)
	_ = p.Submit(context.Background(), funcJob{id: "slow", fn: func(ctx context.Context) error {
		<-ctx.Done()
		return ctx.Err()
	}})
	time.Sleep(10 * time.Millisecond)
	if p.StopWithTimeout(20 * time.Millisecond) {
		t.Fatal("stop should have timed out")
	}
	all := <-results
	if len(all) != 1 || !errors.Is(all[0].Error, context.Canceled) {
		t.Fatalf("unexpected results: %+v", all)
	}
}

func TestConcurrentSubmitAndStopNeverPanic(t *testing.T) {
	p := New(4, 4, quiet())
	p.Start()
	results := collect(p)
	var wg sync.WaitGroup
	var accepted atomic.Int32
	for g := 0; g < 8; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 200; i++ {
				if p.Submit(context.Background(), funcJob{id: "c", fn: func(context.Context) error { return nil }}) == nil {
					accepted.Add(1)
				}
			}
		}()
	}
	time.Sleep(time.Millisecond)
	p.Stop()
	wg.Wait()
	if got := int32(len(<-results)); got != accepted.Load() {
		t.Fatalf("results %d, accepted %d", got, accepted.Load())
	}
}
