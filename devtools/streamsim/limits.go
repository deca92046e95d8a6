package main

import (
	"math/rand/v2"
	"sync"
	"time"
)

// window holds the times of calls accepted within the last second, oldest first.
type window struct{ times []int64 }

// count drops calls at or before now-1s, so that the window is (now-1s, now], and counts the rest.
func (w *window) count(now int64) int {
	cut := now - int64(time.Second)
	i := 0
	for i < len(w.times) && w.times[i] <= cut {
		i++
	}
	if i > 0 {
		w.times = w.times[i:]
	}
	return len(w.times)
}

// gate is one shard's GetRecords admission: calls in flight and calls accepted in the last second.
type gate struct {
	mu       sync.Mutex
	inFlight int
	accepted window
}

// limits applies the GetRecords, DescribeStream and injected-throttling limits.
type limits struct {
	cfg   config
	stats *stats

	mu       sync.Mutex
	describe window
	rng      *rand.Rand
}

func newLimits(cfg config, st *stats) *limits {
	return &limits{cfg: cfg, stats: st, rng: rand.New(rand.NewPCG(uint64(cfg.seed), 0x7468726f74746c65))}
}

// admit decides on a GetRecords call on the shard of g; it returns the refusal reason, or "" when
// accepted, in which case the caller must call release when the answer is written.
func (l *limits) admit(g *gate, now time.Time) string {
	t := now.UnixNano()
	g.mu.Lock()
	defer g.mu.Unlock()
	if l.cfg.maxReaders > 0 && g.inFlight >= l.cfg.maxReaders {
		return "readers"
	}
	n := g.accepted.count(t)
	if l.cfg.getRecordsRate > 0 && n >= l.cfg.getRecordsRate {
		return "rate"
	}
	if l.cfg.throttleRate > 0 && l.roll() < l.cfg.throttleRate {
		return "injected"
	}
	g.accepted.times = append(g.accepted.times, t)
	g.inFlight++
	l.stats.observe(n+1, g.inFlight)
	return ""
}

func (l *limits) release(g *gate) {
	g.mu.Lock()
	g.inFlight--
	g.mu.Unlock()
}

func (l *limits) inFlight(g *gate) int {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.inFlight
}

func (l *limits) roll() float64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.rng.Float64()
}

// admitDescribe applies the server-wide DescribeStream rate.
func (l *limits) admitDescribe(now time.Time) bool {
	if l.cfg.describeRate <= 0 {
		return true
	}
	t := now.UnixNano()
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.describe.count(t) >= l.cfg.describeRate {
		return false
	}
	l.describe.times = append(l.describe.times, t)
	return true
}
