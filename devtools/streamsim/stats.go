package main

import "sync"

// stats counts calls, refusals and the peaks the limits are meant to bound.
type stats struct {
	mu           sync.Mutex
	calls        map[string]int64
	throttled    map[string]int64
	errors       map[string]int64
	maxPerSecond int
	maxInFlight  int
}

func newStats() *stats {
	return &stats{
		calls:     map[string]int64{},
		throttled: map[string]int64{"rate": 0, "readers": 0, "describe": 0, "injected": 0},
		errors:    map[string]int64{},
	}
}

func (s *stats) call(op string) {
	s.mu.Lock()
	s.calls[op]++
	s.mu.Unlock()
}

func (s *stats) throttle(reason string) {
	s.mu.Lock()
	s.throttled[reason]++
	s.mu.Unlock()
}

func (s *stats) failed(code string) {
	s.mu.Lock()
	s.errors[code]++
	s.mu.Unlock()
}

// observe records the GetRecords accepted on one shard within the last second and those in flight.
func (s *stats) observe(perSecond, inFlight int) {
	s.mu.Lock()
	s.maxPerSecond = max(s.maxPerSecond, perSecond)
	s.maxInFlight = max(s.maxInFlight, inFlight)
	s.mu.Unlock()
}

type statsJSON struct {
	Calls                 map[string]int64 `json:"calls"`
	Throttled             map[string]int64 `json:"throttled"`
	Errors                map[string]int64 `json:"errors"`
	MaxGetRecordsPerShard int              `json:"max_get_records_per_second"` // on one shard, in one second
	MaxInFlightPerShard   int              `json:"max_in_flight"`              // on one shard
	Streams               int              `json:"streams"`
	Records               int64            `json:"records"`
	RecordsTotal          int64            `json:"records_total"`
	Trimmed               int64            `json:"trimmed"`
	Dropped               int64            `json:"dropped"`
	Shards                map[string]int   `json:"shards"`
	Splits                int64            `json:"splits"`
}

func (s *server) snapshotStats() statsJSON {
	out := statsJSON{Shards: map[string]int{"open": 0, "closed": 0, "expired": 0}}
	s.stats.mu.Lock()
	out.Calls = copyCounts(s.stats.calls)
	out.Throttled = copyCounts(s.stats.throttled)
	out.Errors = copyCounts(s.stats.errors)
	out.MaxGetRecordsPerShard = s.stats.maxPerSecond
	out.MaxInFlightPerShard = s.stats.maxInFlight
	s.stats.mu.Unlock()
	for _, st := range s.all() {
		st.mu.Lock()
		out.Streams++
		out.Records += st.stored
		out.RecordsTotal += st.total
		out.Trimmed += st.trimmed
		out.Dropped += st.dropped
		out.Splits += st.splits
		for _, sh := range st.shards {
			out.Shards[sh.state()]++
		}
		st.mu.Unlock()
	}
	return out
}

func copyCounts(m map[string]int64) map[string]int64 {
	c := make(map[string]int64, len(m))
	for k, v := range m {
		c[k] = v
	}
	return c
}
