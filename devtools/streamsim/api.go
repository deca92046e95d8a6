package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"hash/crc32"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"
)

const (
	targetPrefix   = "DynamoDBStreams_20120810."
	errorPrefix    = "com.amazonaws.dynamodb.v20120810#"
	maxRecordBytes = 1 << 20
)

type apiError struct {
	code, msg string
	status    int // 400 unless set
}

func (e *apiError) Error() string { return e.code + ": " + e.msg }

func validation(format string, a ...any) *apiError {
	return &apiError{code: "ValidationException", msg: fmt.Sprintf(format, a...)}
}

func notFound(format string, a ...any) *apiError {
	return &apiError{code: "ResourceNotFoundException", msg: fmt.Sprintf(format, a...)}
}

func limitExceeded(format string, a ...any) *apiError {
	return &apiError{code: "LimitExceededException", msg: fmt.Sprintf(format, a...)}
}

// call is one API request being answered.
type call struct {
	op    string
	body  []byte
	now   time.Time
	slept bool // the latency was already added (GetRecords adds it while counted in flight)
}

func (s *server) serveAPI(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	c := &call{op: strings.TrimPrefix(r.Header.Get("X-Amz-Target"), targetPrefix), body: body, now: time.Now()}
	s.stats.call(c.op)
	var out []byte
	var aerr *apiError
	switch {
	case err != nil:
		aerr = validation("cannot read the request: %v", err)
	case c.op == "DescribeStream":
		out, aerr = s.describeStream(c)
	case c.op == "ListStreams":
		out, aerr = s.listStreams(c)
	case c.op == "GetShardIterator":
		out, aerr = s.getShardIterator(c)
	case c.op == "GetRecords":
		out, aerr = s.getRecords(c)
	default:
		aerr = validation("unknown operation %q (X-Amz-Target must be %s<Operation>)", c.op, targetPrefix)
	}
	if !c.slept && s.cfg.latency > 0 {
		time.Sleep(s.cfg.latency)
	}
	status := http.StatusOK
	if aerr != nil {
		s.stats.failed(aerr.code)
		status = aerr.status
		if status == 0 {
			status = http.StatusBadRequest
		}
		out, _ = json.Marshal(map[string]string{"__type": errorPrefix + aerr.code, "message": aerr.msg})
	}
	writeAnswer(w, status, out)
}

func writeAnswer(w http.ResponseWriter, status int, body []byte) {
	h := w.Header()
	h.Set("Content-Type", "application/x-amz-json-1.0")
	h.Set("x-amzn-RequestId", requestID())
	h.Set("x-amz-crc32", strconv.FormatUint(uint64(crc32.ChecksumIEEE(body)), 10))
	h.Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(status)
	_, _ = w.Write(body)
}

// answer encodes a successful response.
func answer(v any) ([]byte, *apiError) {
	b, err := json.Marshal(v)
	if err != nil {
		return nil, &apiError{code: "InternalServerError", msg: err.Error(), status: 500}
	}
	return b, nil
}

func decode(c *call, into any) *apiError {
	if len(bytes.TrimSpace(c.body)) == 0 {
		c.body = []byte("{}")
	}
	if err := json.Unmarshal(c.body, into); err != nil {
		return &apiError{code: "SerializationException", msg: fmt.Sprintf("cannot parse the %s request: %v", c.op, err)}
	}
	return nil
}

func (s *server) describeStream(c *call) ([]byte, *apiError) {
	var req struct {
		StreamArn             string
		Limit                 *int
		ExclusiveStartShardId string
	}
	if err := decode(c, &req); err != nil {
		return nil, err
	}
	if req.StreamArn == "" {
		return nil, validation("StreamArn is required")
	}
	limit := s.cfg.pageSize
	if req.Limit != nil {
		if *req.Limit < 1 || *req.Limit > 100 {
			return nil, validation("Limit: got %d; must be 1..100", *req.Limit)
		}
		limit = min(limit, *req.Limit)
	}
	if !s.limits.admitDescribe(c.now) {
		s.stats.throttle("describe")
		return nil, limitExceeded("DescribeStream rate exceeded (%d calls per second)", s.cfg.describeRate)
	}
	st, aerr := s.lookup(req.StreamArn)
	if aerr != nil {
		return nil, aerr
	}
	shards, last := st.page(req.ExclusiveStartShardId, limit, c.now)
	if shards == nil {
		shards = []shardJSON{}
	}
	type description struct {
		StreamArn               string          `json:"StreamArn"`
		StreamLabel             string          `json:"StreamLabel"`
		StreamStatus            string          `json:"StreamStatus"`
		StreamViewType          string          `json:"StreamViewType"`
		CreationRequestDateTime json.RawMessage `json:"CreationRequestDateTime"`
		TableName               string          `json:"TableName"`
		KeySchema               json.RawMessage `json:"KeySchema"`
		Shards                  []shardJSON     `json:"Shards"`
		LastEvaluatedShardId    string          `json:"LastEvaluatedShardId,omitempty"`
	}
	return answer(map[string]description{"StreamDescription": {
		StreamArn: st.arn, StreamLabel: st.label, StreamStatus: "ENABLED", StreamViewType: st.viewType,
		CreationRequestDateTime: st.created, TableName: st.table, KeySchema: st.keySchema,
		Shards: shards, LastEvaluatedShardId: last,
	}})
}

type streamSummary struct {
	StreamArn   string `json:"StreamArn"`
	TableName   string `json:"TableName"`
	StreamLabel string `json:"StreamLabel"`
}

func (s *server) listStreams(c *call) ([]byte, *apiError) {
	var req struct{ TableName string }
	if err := decode(c, &req); err != nil {
		return nil, err
	}
	out := []streamSummary{}
	seen := map[string]bool{}
	for _, st := range s.all() {
		if req.TableName == "" || req.TableName == st.table {
			out = append(out, streamSummary{st.arn, st.table, st.label})
			seen[st.arn] = true
		}
	}
	if s.up != nil {
		// The upstream's streams are ours too: each is followed once it is first asked for.
		upstreamStreams, err := s.up.listStreams(req.TableName)
		if err != nil {
			logf("ListStreams upstream: %v", err)
			return nil, &apiError{code: "InternalServerError", msg: "upstream ListStreams failed: " + err.Error(), status: 500}
		}
		for _, u := range upstreamStreams {
			if !seen[u.StreamArn] {
				out = append(out, u)
			}
		}
	}
	return answer(map[string]any{"Streams": out})
}

func (s *server) getShardIterator(c *call) ([]byte, *apiError) {
	var req struct {
		StreamArn, ShardId, ShardIteratorType, SequenceNumber string
	}
	if err := decode(c, &req); err != nil {
		return nil, err
	}
	if req.StreamArn == "" || req.ShardId == "" || req.ShardIteratorType == "" {
		return nil, validation("StreamArn, ShardId and ShardIteratorType are required")
	}
	st, aerr := s.lookup(req.StreamArn)
	if aerr != nil {
		return nil, aerr
	}
	sh, aerr := st.shard(req.ShardId, c.now)
	if aerr != nil {
		return nil, aerr
	}
	after, aerr := st.position(sh, req.ShardIteratorType, req.SequenceNumber)
	if aerr != nil {
		return nil, aerr
	}
	it := iterator{arn: st.arn, shard: sh.id, after: after, issued: c.now.UnixNano()}
	return answer(map[string]string{"ShardIterator": it.token()})
}

func (s *server) getRecords(c *call) ([]byte, *apiError) {
	var req struct {
		ShardIterator string
		Limit         *int
	}
	if err := decode(c, &req); err != nil {
		return nil, err
	}
	limit := 1000
	if req.Limit != nil {
		if *req.Limit < 1 || *req.Limit > 1000 {
			return nil, validation("Limit: got %d; must be 1..1000", *req.Limit)
		}
		limit = *req.Limit
	}
	if req.ShardIterator == "" {
		return nil, validation("ShardIterator is required")
	}
	it, aerr := parseIterator(req.ShardIterator)
	if aerr != nil {
		return nil, aerr
	}
	if s.expired(it, c.now) {
		return nil, &apiError{code: "ExpiredIteratorException",
			msg: fmt.Sprintf("Iterator expired: issued more than %s ago", s.cfg.iteratorTTL)}
	}
	st, aerr := s.lookup(it.arn)
	if aerr != nil {
		return nil, aerr
	}
	sh, aerr := st.shard(it.shard, c.now)
	if aerr != nil {
		return nil, aerr
	}
	if reason := s.limits.admit(&sh.gate, c.now); reason != "" {
		s.stats.throttle(reason)
		return nil, limitExceeded("Rate exceeded for shard %s (%s)", sh.id, reason)
	}
	defer s.limits.release(&sh.gate)
	if s.cfg.latency > 0 {
		time.Sleep(s.cfg.latency)
	}
	c.slept = true

	st.mu.Lock()
	if sh.expired {
		st.mu.Unlock()
		return nil, notFound("Requested resource not found: Shard does not exist: %s", sh.id)
	}
	if it.after < sh.trimmedSeq {
		err := trimmedError(sh)
		st.mu.Unlock()
		return nil, err
	}
	all := sh.records
	closed := sh.closed
	st.mu.Unlock()

	// The records are never changed in place, so the slice can be read without the lock.
	i := searchAfter(all, it.after)
	page := all[i:]
	if len(page) > limit {
		page = page[:limit]
	}
	size, n := 0, 0
	for n < len(page) && (n == 0 || size+len(page[n].data) <= maxRecordBytes) {
		size += len(page[n].data)
		n++
	}
	out := make([]byte, 0, size+n+300)
	out = append(out, `{"Records":[`...)
	for k := 0; k < n; k++ {
		if k > 0 {
			out = append(out, ',')
		}
		out = append(out, page[k].data...)
	}
	out = append(out, ']')
	if !(closed && i+n == len(all)) {
		next := it
		if n > 0 {
			next.after = page[n-1].seq
		}
		next.issued = time.Now().UnixNano()
		out = append(out, `,"NextShardIterator":"`...)
		out = append(out, next.token()...)
		out = append(out, '"')
	}
	return append(out, '}'), nil
}

// searchAfter gives the index of the first record whose sequence number is above after.
func searchAfter(recs []record, after uint64) int {
	lo, hi := 0, len(recs)
	for lo < hi {
		mid := int(uint(lo+hi) >> 1)
		if recs[mid].seq <= after {
			lo = mid + 1
		} else {
			hi = mid
		}
	}
	return lo
}
