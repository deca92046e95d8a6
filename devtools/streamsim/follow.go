package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strconv"
	"time"
)

// follow registers an upstream stream and starts following it.
func (s *server) follow(arn string) (*stream, *apiError) {
	desc, err := s.up.describe(arn)
	if err != nil {
		if upstreamCode(err) == "ResourceNotFoundException" {
			return nil, notFound("Requested resource not found: Stream: %s not found", arn)
		}
		return nil, &apiError{code: "InternalServerError", msg: "upstream DescribeStream failed: " + err.Error(), status: 500}
	}
	hashAttr, err := s.up.hashAttribute(desc.TableName)
	if err != nil {
		// The table may be gone while its stream is still readable; the stream knows its keys too.
		var keys []struct{ AttributeName, KeyType string }
		_ = json.Unmarshal(desc.KeySchema, &keys)
		for _, k := range keys {
			if k.KeyType == "HASH" {
				hashAttr = k.AttributeName
			}
		}
		if hashAttr == "" {
			return nil, &apiError{code: "InternalServerError", msg: "upstream DescribeTable failed: " + err.Error(), status: 500}
		}
	}
	start := uint64(0)
	for _, sh := range desc.Shards {
		if n, err := strconv.ParseUint(sh.SequenceNumberRange.StartingSequenceNumber, 10, 64); err == nil && (start == 0 || n < start) {
			start = n
		}
	}
	if start == 0 {
		start = 1
	}
	meta := streamMeta{arn: arn, label: desc.StreamLabel, table: desc.TableName, viewType: desc.StreamViewType,
		created: desc.CreationRequestDateTime, keySchema: desc.KeySchema, hashAttr: hashAttr}
	if len(meta.created) == 0 {
		meta.created = appendEpoch(nil, time.Now())
	}
	if len(meta.keySchema) == 0 {
		meta.keySchema = []byte(fmt.Sprintf(`[{"AttributeName":%q,"KeyType":"HASH"}]`, hashAttr))
	}
	st := newStream(s, meta, start, nil)
	// Upstream sequence numbers come from one counter: the next one is above every one seen.
	st.nextSeq = func() uint64 { return st.lastSeq + 1 }
	logf("following upstream stream %s (table %s, partition key %s)", arn, desc.TableName, hashAttr)
	go s.followStream(st)
	return st, nil
}

// followStream follows every upstream shard of st, a child only once its parent is done.
func (s *server) followStream(st *stream) {
	done, running := map[string]bool{}, map[string]bool{}
	finished := make(chan string)
	for {
		desc, err := s.up.describe(st.arn)
		if err != nil {
			logf("upstream DescribeStream %s: %v", st.arn, err)
		} else {
			listed := map[string]bool{}
			for _, sh := range desc.Shards {
				listed[sh.ShardId] = true
			}
			for _, sh := range desc.Shards {
				id := sh.ShardId
				if done[id] || running[id] || (sh.ParentShardId != "" && listed[sh.ParentShardId] && !done[sh.ParentShardId]) {
					continue
				}
				running[id] = true
				go s.followShard(st, id, finished)
			}
		}
		select {
		case id := <-finished:
			done[id] = true
			delete(running, id)
		case <-time.After(time.Second):
		}
	}
}

// followShard reads one upstream shard to its end, polling every 20 ms when nothing is new.
func (s *server) followShard(st *stream, id string, finished chan<- string) {
	iter, last := "", ""
	backoff := func(err error, what string) {
		logf("upstream %s on shard %s: %v", what, id, err)
		time.Sleep(time.Second)
	}
	for {
		if iter == "" {
			req := map[string]string{"StreamArn": st.arn, "ShardId": id, "ShardIteratorType": "TRIM_HORIZON"}
			if last != "" {
				req["ShardIteratorType"], req["SequenceNumber"] = "AFTER_SEQUENCE_NUMBER", last
			}
			var out struct{ ShardIterator string }
			if err := s.up.call("DynamoDBStreams_20120810.GetShardIterator", req, &out); err != nil {
				if upstreamCode(err) == "ResourceNotFoundException" {
					logf("upstream shard %s is gone", id)
					finished <- id
					return
				}
				backoff(err, "GetShardIterator")
				continue
			}
			iter = out.ShardIterator
		}
		var out struct {
			Records           []json.RawMessage
			NextShardIterator string
		}
		err := s.up.call("DynamoDBStreams_20120810.GetRecords", map[string]any{"ShardIterator": iter, "Limit": 1000}, &out)
		switch code := upstreamCode(err); {
		case err == nil:
		case code == "ExpiredIteratorException":
			iter = ""
			continue
		case code == "TrimmedDataAccessException":
			logf("upstream shard %s trimmed records after %q before they were read; they are lost", id, last)
			iter, last = "", ""
			continue
		default:
			backoff(err, "GetRecords")
			continue
		}
		if seq := st.ingest(out.Records, time.Now()); seq != "" {
			last = seq
		}
		if out.NextShardIterator == "" {
			finished <- id
			return
		}
		iter = out.NextShardIterator
		if len(out.Records) == 0 {
			time.Sleep(20 * time.Millisecond)
		}
	}
}

// ingest re-shards upstream records by the hash of their partition key and gives the last
// sequence number read. Each keeps its JSON except ApproximateCreationDateTime, which becomes
// the time it was received (DynamoDB Local truncates it to the minute).
func (st *stream) ingest(raws []json.RawMessage, now time.Time) string {
	type prepared struct {
		hash uint64
		rec  record
	}
	ready := make([]prepared, 0, len(raws))
	last := ""
	for _, raw := range raws {
		rec, hash, seqText, err := st.convert(raw, now)
		if seqText != "" {
			last = seqText
		}
		if err != nil {
			logf("stream %s: upstream record not stored: %v: %.200s", st.arn, err, raw)
			st.mu.Lock()
			st.dropped++
			st.mu.Unlock()
			continue
		}
		ready = append(ready, prepared{hash, rec})
	}
	st.mu.Lock()
	defer st.mu.Unlock()
	for _, p := range ready {
		st.put(p.hash, p.rec)
	}
	return last
}

func (st *stream) convert(raw json.RawMessage, now time.Time) (record, uint64, string, error) {
	var rec map[string]json.RawMessage
	var ddb map[string]json.RawMessage
	var seqText string
	if err := json.Unmarshal(raw, &rec); err != nil {
		return record{}, 0, "", err
	}
	if err := json.Unmarshal(rec["dynamodb"], &ddb); err != nil {
		return record{}, 0, "", fmt.Errorf("dynamodb: %w", err)
	}
	if err := json.Unmarshal(ddb["SequenceNumber"], &seqText); err != nil {
		return record{}, 0, "", fmt.Errorf("SequenceNumber: %w", err)
	}
	seq, err := strconv.ParseUint(seqText, 10, 64)
	if err != nil {
		return record{}, 0, seqText, fmt.Errorf("SequenceNumber %q: %w", seqText, err)
	}
	var keys map[string]map[string]json.RawMessage
	if err := json.Unmarshal(ddb["Keys"], &keys); err != nil {
		return record{}, 0, seqText, fmt.Errorf("Keys: %w", err)
	}
	attr := keys[st.hashAttr]
	if len(attr) != 1 {
		return record{}, 0, seqText, fmt.Errorf("Keys has no single-typed %s", st.hashAttr)
	}
	var hash uint64
	for typ, v := range attr {
		var text string
		if json.Unmarshal(v, &text) != nil {
			text = string(v)
		}
		hash = keyHash(typ, text)
	}
	ddb["ApproximateCreationDateTime"] = appendEpoch(nil, now)
	inner, err := marshalRaw(ddb)
	if err != nil {
		return record{}, 0, seqText, err
	}
	rec["dynamodb"] = inner
	data, err := marshalRaw(rec)
	if err != nil {
		return record{}, 0, seqText, err
	}
	return record{seq: seq, at: now.UnixNano(), data: data}, hash, seqText, nil
}

// marshalRaw encodes without HTML escaping, so that values pass through as they came.
func marshalRaw(m map[string]json.RawMessage) ([]byte, error) {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(m); err != nil {
		return nil, err
	}
	return bytes.TrimRight(b.Bytes(), "\n"), nil
}
