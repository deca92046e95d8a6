package main

import (
	"encoding/json"
	"sort"
	"sync"
	"time"
)

// record is one stream record, kept as the JSON GetRecords sends.
type record struct {
	seq  uint64
	at   int64 // arrival, Unix nanoseconds: retention counts from it
	data []byte
}

// shard is one shard of a simulated stream. Its fields are guarded by the stream's mutex, except
// gate, which has its own.
type shard struct {
	id, parent string
	n          uint64 // creation counter
	lo, hi     uint64 // the slice of the hash space it owns, both ends included
	start, end uint64 // sequence number range; end only once closed
	closed     bool
	closedAt   int64
	expired    bool
	records    []record // in sequence-number order; trimming reslices the front, nothing is changed in place
	trimmedSeq uint64   // highest trimmed sequence number, 0 when nothing was trimmed
	gate       gate
}

func (sh *shard) lastSeq() (uint64, bool) {
	if len(sh.records) == 0 {
		return 0, false
	}
	return sh.records[len(sh.records)-1].seq, true
}

func (sh *shard) state() string {
	switch {
	case sh.expired:
		return "expired"
	case sh.closed:
		return "closed"
	}
	return "open"
}

// streamMeta is what DescribeStream says about a stream besides its shards.
type streamMeta struct {
	arn, label, table, viewType string
	created                     json.RawMessage // CreationRequestDateTime, epoch seconds
	keySchema                   json.RawMessage
	hashAttr                    string
}

// stream is one simulated stream. mu makes routing and splits atomic: a change goes to the open
// shard owning its hash at the moment it is stored, and every change after a split goes to a child.
type stream struct {
	streamMeta
	srv *server

	mu      sync.Mutex
	shards  []*shard // creation order, which is also id order
	byID    map[string]*shard
	open    []*shard // partitions the hash space, sorted by lo
	lastSeq uint64   // highest sequence number stored
	nextSeq func() uint64
	gen     *generator

	splits, stored, total, trimmed, dropped int64
}

func newStream(srv *server, meta streamMeta, start uint64, nextSeq func() uint64) *stream {
	st := &stream{streamMeta: meta, srv: srv, byID: map[string]*shard{}, nextSeq: nextSeq}
	if start > 0 {
		st.lastSeq = start - 1
	}
	n := uint64(srv.cfg.shards)
	width := ^uint64(0) / n
	for i := uint64(0); i < n; i++ {
		hi := (i+1)*width - 1
		if i == n-1 {
			hi = ^uint64(0)
		}
		st.addShard("", i*width, hi, start)
	}
	return st
}

// addShard creates an open shard; the caller holds mu (or owns the stream alone) and keeps open sorted.
func (st *stream) addShard(parent string, lo, hi, start uint64) *shard {
	sh := &shard{id: st.srv.newShardID(st.arn), parent: parent, lo: lo, hi: hi, start: start}
	sh.n = uint64(len(st.shards))
	st.shards = append(st.shards, sh)
	st.byID[sh.id] = sh
	if parent == "" {
		st.open = append(st.open, sh)
	}
	return sh
}

// route gives the open shard owning hash h; the caller holds mu.
func (st *stream) route(h uint64) *shard {
	i := sort.Search(len(st.open), func(i int) bool { return st.open[i].hi >= h })
	return st.open[i]
}

// put stores one record in the open shard owning hash h; the caller holds mu.
func (st *stream) put(h uint64, rec record) bool {
	sh := st.route(h)
	if last, ok := sh.lastSeq(); ok && rec.seq <= last {
		// Only an upstream with several open shards at once could do this; a shard must stay in order.
		st.dropped++
		logf("stream %s: record %d arrived after %d in shard %s; not stored", st.arn, rec.seq, last, sh.id)
		return false
	}
	sh.records = append(sh.records, rec)
	if rec.seq > st.lastSeq {
		st.lastSeq = rec.seq
	}
	st.stored++
	st.total++
	return true
}

// shard finds a listed (not expired) shard, trimming it first.
func (st *stream) shard(id string, now time.Time) (*shard, *apiError) {
	st.mu.Lock()
	defer st.mu.Unlock()
	sh := st.byID[id]
	if sh != nil {
		st.trimShard(sh, now)
	}
	if sh == nil || sh.expired {
		return nil, notFound("Requested resource not found: Shard does not exist: %s", id)
	}
	return sh, nil
}

type splitResult struct {
	Parent   string   `json:"parent"`
	Children []string `json:"children"`
}

// split closes up to count open shards, widest hash slice first (ties: oldest), each into two children.
func (st *stream) split(count int, now time.Time) []splitResult {
	st.mu.Lock()
	defer st.mu.Unlock()
	candidates := make([]*shard, 0, len(st.open))
	for _, sh := range st.open {
		if sh.hi > sh.lo {
			candidates = append(candidates, sh)
		}
	}
	sort.SliceStable(candidates, func(i, j int) bool {
		wi, wj := candidates[i].hi-candidates[i].lo, candidates[j].hi-candidates[j].lo
		if wi != wj {
			return wi > wj
		}
		return candidates[i].n < candidates[j].n
	})
	if len(candidates) > count {
		candidates = candidates[:count]
	}
	var done []splitResult
	for _, parent := range candidates {
		parent.closed = true
		parent.closedAt = now.UnixNano()
		parent.end = parent.start
		if last, ok := parent.lastSeq(); ok {
			parent.end = last
		}
		start := st.nextSeq()
		mid := parent.lo + (parent.hi-parent.lo)/2
		left := st.addShard(parent.id, parent.lo, mid, start)
		right := st.addShard(parent.id, mid+1, parent.hi, start)
		i := sort.Search(len(st.open), func(i int) bool { return st.open[i].lo >= parent.lo })
		open := make([]*shard, 0, len(st.open)+1)
		open = append(open, st.open[:i]...)
		open = append(open, left, right)
		st.open = append(open, st.open[i+1:]...)
		st.splits++
		done = append(done, splitResult{Parent: parent.id, Children: []string{left.id, right.id}})
	}
	return done
}

// trim drops records older than the retention from every shard and expires emptied closed shards.
func (st *stream) trim(now time.Time) {
	st.mu.Lock()
	defer st.mu.Unlock()
	for _, sh := range st.shards {
		st.trimShard(sh, now)
	}
}

// trimShard trims one shard; the caller holds mu.
func (st *stream) trimShard(sh *shard, now time.Time) {
	retention := st.srv.cfg.retention
	if retention <= 0 || sh.expired {
		return
	}
	cut := now.Add(-retention).UnixNano()
	k := 0
	for k < len(sh.records) && sh.records[k].at < cut {
		k++
	}
	if k > 0 {
		sh.trimmedSeq = sh.records[k-1].seq
		sh.records = sh.records[k:]
		st.stored -= int64(k)
		st.trimmed += int64(k)
	}
	if sh.closed && len(sh.records) == 0 && sh.closedAt < cut {
		sh.expired = true
		sh.records = nil
	}
}

type seqRangeJSON struct {
	StartingSequenceNumber string `json:"StartingSequenceNumber"`
	EndingSequenceNumber   string `json:"EndingSequenceNumber,omitempty"`
}

type shardJSON struct {
	ShardId             string       `json:"ShardId"`
	ParentShardId       string       `json:"ParentShardId,omitempty"`
	SequenceNumberRange seqRangeJSON `json:"SequenceNumberRange"`
}

// page lists up to limit listed shards after the id exclusiveStart, in creation order, and the
// last id listed when more follow.
func (st *stream) page(exclusiveStart string, limit int, now time.Time) ([]shardJSON, string) {
	st.mu.Lock()
	defer st.mu.Unlock()
	i := sort.Search(len(st.shards), func(i int) bool { return st.shards[i].id > exclusiveStart })
	var out []shardJSON
	for ; i < len(st.shards); i++ {
		sh := st.shards[i]
		st.trimShard(sh, now)
		if sh.expired {
			continue
		}
		if len(out) == limit {
			return out, out[len(out)-1].ShardId
		}
		j := shardJSON{ShardId: sh.id, ParentShardId: sh.parent,
			SequenceNumberRange: seqRangeJSON{StartingSequenceNumber: seqString(sh.start)}}
		if sh.closed {
			j.SequenceNumberRange.EndingSequenceNumber = seqString(sh.end)
		}
		out = append(out, j)
	}
	return out, ""
}

func seqString(n uint64) string {
	b := make([]byte, 0, 21)
	return string(appendSeq(b, n))
}

// appendSeq appends n as the 21-digit zero-padded decimal DynamoDB uses.
func appendSeq(b []byte, n uint64) []byte {
	var d [21]byte
	for i := 20; i >= 0; i-- {
		d[i] = byte('0' + n%10)
		n /= 10
	}
	return append(b, d[:]...)
}
