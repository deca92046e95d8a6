package main

import (
	"encoding/json"
	"net/http"
	"strconv"
	"time"
)

// serveControl answers the /sim/ endpoints: inspection and the knobs tests turn.
func (s *server) serveControl(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	post := r.Method == http.MethodPost
	switch {
	case r.URL.Path == "/sim/stats" && !post:
		writeControl(w, http.StatusOK, s.snapshotStats())
	case r.URL.Path == "/sim/shards" && !post:
		if st := s.controlStream(w, q.Get("stream")); st != nil {
			writeControl(w, http.StatusOK, s.shardsView(st))
		}
	case r.URL.Path == "/sim/split" && post:
		count, err := strconv.Atoi(q.Get("count"))
		if q.Get("count") == "" {
			count, err = 1, nil
		}
		if err != nil || count < 1 {
			controlError(w, http.StatusBadRequest, "count: got "+strconv.Quote(q.Get("count"))+"; must be a positive integer")
			return
		}
		if st := s.controlStream(w, q.Get("stream")); st != nil {
			splits := st.split(count, time.Now())
			if splits == nil {
				splits = []splitResult{}
			}
			writeControl(w, http.StatusOK, map[string]any{"splits": splits})
		}
	case r.URL.Path == "/sim/rate" && post:
		rate, err := strconv.ParseFloat(q.Get("value"), 64)
		if err != nil || rate < 0 {
			controlError(w, http.StatusBadRequest, "value: got "+strconv.Quote(q.Get("value"))+"; must be a number >= 0")
			return
		}
		if g := s.controlGenerator(w, q.Get("stream")); g != nil {
			g.setRate(rate)
			writeControl(w, http.StatusOK, map[string]float64{"rate": rate})
		}
	case r.URL.Path == "/sim/generate" && post:
		count, err := strconv.Atoi(q.Get("count"))
		if err != nil || count < 1 {
			controlError(w, http.StatusBadRequest, "count: got "+strconv.Quote(q.Get("count"))+"; must be a positive integer")
			return
		}
		if g := s.controlGenerator(w, q.Get("stream")); g != nil {
			g.generate(count)
			writeControl(w, http.StatusOK, map[string]int{"generated": count})
		}
	case r.URL.Path == "/sim/truth" && !post:
		if g := s.controlGenerator(w, q.Get("stream")); g != nil {
			w.Header().Set("Content-Type", "application/json")
			_, _ = w.Write(g.truth())
		}
	default:
		controlError(w, http.StatusNotFound, "no such control endpoint: "+r.Method+" "+r.URL.Path)
	}
}

// controlStream finds the stream named, or the only one when none is named (and answers 404 if not).
func (s *server) controlStream(w http.ResponseWriter, arn string) *stream {
	if arn == "" {
		all := s.all()
		if len(all) == 1 {
			return all[0]
		}
		controlError(w, http.StatusNotFound, "name a stream (stream=ARN): "+strconv.Itoa(len(all))+" streams are known")
		return nil
	}
	st := s.known(arn)
	if st == nil {
		controlError(w, http.StatusNotFound, "unknown stream "+strconv.Quote(arn)+" (front mode knows a stream once it was asked for)")
	}
	return st
}

func (s *server) controlGenerator(w http.ResponseWriter, arn string) *generator {
	if arn == "" {
		for _, st := range s.all() {
			if st.gen != nil {
				return st.gen
			}
		}
	}
	st := s.controlStream(w, arn)
	if st == nil {
		return nil
	}
	if st.gen == nil {
		controlError(w, http.StatusBadRequest, "stream "+arn+" is followed from the upstream, not generated")
		return nil
	}
	return st.gen
}

// shardView is one shard as DescribeStream lists it (same field names), plus what the simulator knows.
type shardView struct {
	shardJSON
	State                 string `json:"State"`
	HashRangeLow          uint64 `json:"HashRangeLow"`
	HashRangeHigh         uint64 `json:"HashRangeHigh"`
	Records               int    `json:"Records"`
	FirstSequenceNumber   string `json:"FirstSequenceNumber,omitempty"`
	LastSequenceNumber    string `json:"LastSequenceNumber,omitempty"`
	TrimmedSequenceNumber string `json:"TrimmedSequenceNumber,omitempty"`
	InFlight              int    `json:"InFlight"`
}

func (s *server) shardsView(st *stream) map[string]any {
	st.mu.Lock()
	defer st.mu.Unlock()
	views := make([]shardView, 0, len(st.shards))
	for _, sh := range st.shards {
		v := shardView{State: sh.state(), HashRangeLow: sh.lo, HashRangeHigh: sh.hi, Records: len(sh.records),
			InFlight: s.limits.inFlight(&sh.gate)}
		v.ShardId, v.ParentShardId = sh.id, sh.parent
		v.SequenceNumberRange.StartingSequenceNumber = seqString(sh.start)
		if sh.closed {
			v.SequenceNumberRange.EndingSequenceNumber = seqString(sh.end)
		}
		if len(sh.records) > 0 {
			v.FirstSequenceNumber = seqString(sh.records[0].seq)
			v.LastSequenceNumber = seqString(sh.records[len(sh.records)-1].seq)
		}
		if sh.trimmedSeq > 0 {
			v.TrimmedSequenceNumber = seqString(sh.trimmedSeq)
		}
		views = append(views, v)
	}
	return map[string]any{"StreamArn": st.arn, "TableName": st.table, "HashAttribute": st.hashAttr, "Shards": views}
}

func writeControl(w http.ResponseWriter, status int, v any) {
	body, _ := json.Marshal(v)
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = w.Write(body)
}

func controlError(w http.ResponseWriter, status int, msg string) {
	writeControl(w, status, map[string]string{"error": msg})
}
