package main

import (
	"fmt"
	"hash/crc32"
	"log"
	"math/rand/v2"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// server holds every stream, the server-wide counters and the limits.
type server struct {
	cfg     config
	started time.Time

	seq    atomic.Uint64 // last sequence number issued by the generator
	shardN atomic.Uint64 // shard creation counter, for ids that sort in creation order
	value  atomic.Uint64 // the generator's "v" attribute

	mu      sync.Mutex
	streams map[string]*stream
	order   []*stream

	regMu sync.Mutex // one upstream registration at a time, so that none happens twice

	up     *upstream
	limits *limits
	stats  *stats
}

func newServer(cfg config, now time.Time) *server {
	s := &server{
		cfg:     cfg,
		started: now,
		streams: map[string]*stream{},
		stats:   newStats(),
	}
	s.limits = newLimits(cfg, s.stats)
	if cfg.upstream != "" {
		s.up = newUpstream(cfg.upstream)
	}
	if cfg.table != "" {
		s.addGenerator(now)
	}
	return s
}

func (s *server) newShardID(arn string) string {
	n := s.shardN.Add(1)
	tag := crc32.ChecksumIEEE([]byte(fmt.Sprintf("%s/%d", arn, n)))
	return fmt.Sprintf("shardId-%020d-%08x", n, tag)
}

func (s *server) add(st *stream) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.streams[st.arn] = st
	s.order = append(s.order, st)
}

func (s *server) known(arn string) *stream {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.streams[arn]
}

func (s *server) all() []*stream {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]*stream(nil), s.order...)
}

// lookup finds a stream, registering it from the upstream in front mode.
func (s *server) lookup(arn string) (*stream, *apiError) {
	if st := s.known(arn); st != nil {
		return st, nil
	}
	if s.up == nil {
		return nil, notFound("Requested resource not found: Stream: %s not found", arn)
	}
	s.regMu.Lock()
	defer s.regMu.Unlock()
	if st := s.known(arn); st != nil {
		return st, nil
	}
	st, err := s.follow(arn)
	if err != nil {
		return nil, err
	}
	s.add(st)
	return st, nil
}

// background runs the retention pass and the split ticker.
func (s *server) background() {
	var trim, split <-chan time.Time
	if s.cfg.retention > 0 {
		trim = time.NewTicker(100 * time.Millisecond).C
	}
	if s.cfg.splitEvery > 0 {
		split = time.NewTicker(s.cfg.splitEvery).C
	}
	for {
		select {
		case now := <-trim:
			for _, st := range s.all() {
				st.trim(now)
			}
		case now := <-split:
			for _, st := range s.all() {
				st.split(s.cfg.splitCount, now)
			}
		}
	}
}

func (s *server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	switch {
	case r.URL.Path == "/" && r.Method == http.MethodPost:
		s.serveAPI(w, r)
	case strings.HasPrefix(r.URL.Path, "/sim/"):
		s.serveControl(w, r)
	default:
		http.NotFound(w, r)
	}
}

func requestID() string {
	const digits = "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
	var b [52]byte
	for i := range b {
		b[i] = digits[rand.IntN(len(digits))]
	}
	return string(b[:])
}

func logf(format string, a ...any) { log.Printf(format, a...) }
