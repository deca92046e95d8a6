package main

import (
	"encoding/base64"
	"fmt"
	"hash/crc32"
	"strconv"
	"strings"
	"time"
)

// iterator is what a shard iterator token carries: no server state, so a token can be used again
// and gives the same records (unless they were trimmed since).
type iterator struct {
	arn, shard string
	after      uint64 // the records after this sequence number come next
	issued     int64  // Unix nanoseconds
}

func (it iterator) token() string {
	body := make([]byte, 0, 32+len(it.arn)+len(it.shard)+40)
	body = append(body, "1|"...)
	body = append(body, it.arn...)
	body = append(body, '|')
	body = append(body, it.shard...)
	body = append(body, '|')
	body = strconv.AppendUint(body, it.after, 10)
	body = append(body, '|')
	body = strconv.AppendInt(body, it.issued, 10)
	body = appendCheck(body, crc32.ChecksumIEEE(body))
	return base64.RawURLEncoding.EncodeToString(body)
}

// appendCheck appends "|" and the checksum as 8 hex digits.
func appendCheck(b []byte, sum uint32) []byte {
	const hex = "0123456789abcdef"
	b = append(b, '|')
	for shift := 28; shift >= 0; shift -= 4 {
		b = append(b, hex[(sum>>uint(shift))&0xf])
	}
	return b
}

func parseIterator(token string) (iterator, *apiError) {
	bad := validation("Invalid ShardIterator")
	raw, err := base64.RawURLEncoding.DecodeString(token)
	if err != nil {
		return iterator{}, bad
	}
	body := string(raw)
	cut := strings.LastIndexByte(body, '|')
	if cut < 0 || body[cut:] != string(appendCheck(nil, crc32.ChecksumIEEE(raw[:cut]))) {
		return iterator{}, bad
	}
	parts := strings.Split(body[:cut], "|")
	if len(parts) != 5 || parts[0] != "1" {
		return iterator{}, bad
	}
	after, err1 := strconv.ParseUint(parts[3], 10, 64)
	issued, err2 := strconv.ParseInt(parts[4], 10, 64)
	if err1 != nil || err2 != nil {
		return iterator{}, bad
	}
	return iterator{arn: parts[1], shard: parts[2], after: after, issued: issued}, nil
}

// position turns a GetShardIterator request into "after sequence number N" on sh, checking it
// against the shard's range and its trimmed records.
func (st *stream) position(sh *shard, kind, seqText string) (uint64, *apiError) {
	st.mu.Lock()
	defer st.mu.Unlock()
	switch kind {
	case "TRIM_HORIZON":
		return sh.trimmedSeq, nil
	case "LATEST":
		if sh.closed {
			return max(sh.end, sh.trimmedSeq), nil
		}
		return max(st.nextSeq()-1, sh.trimmedSeq), nil
	case "AT_SEQUENCE_NUMBER", "AFTER_SEQUENCE_NUMBER":
	default:
		return 0, validation("1 validation error detected: Value '%s' at 'shardIteratorType' failed to satisfy constraint: "+
			"Member must satisfy enum value set: [TRIM_HORIZON, LATEST, AT_SEQUENCE_NUMBER, AFTER_SEQUENCE_NUMBER]", kind)
	}
	if seqText == "" {
		return 0, validation("SequenceNumber is required for ShardIteratorType %s", kind)
	}
	n, err := strconv.ParseUint(seqText, 10, 64)
	if err != nil || n == 0 {
		return 0, validation("Invalid SequenceNumber: %q", seqText)
	}
	after := n
	if kind == "AT_SEQUENCE_NUMBER" {
		after = n - 1
	}
	if after+1 < sh.start || (sh.closed && n > sh.end) {
		return 0, validation("Invalid SequenceNumber: %s is not in the range of shard %s", seqText, sh.id)
	}
	if after < sh.trimmedSeq {
		return 0, trimmedError(sh)
	}
	return after, nil
}

func trimmedError(sh *shard) *apiError {
	return &apiError{code: "TrimmedDataAccessException",
		msg: fmt.Sprintf("Attempted to access data beyond the trim horizon of shard %s (trimmed up to %d)", sh.id, sh.trimmedSeq)}
}

func (s *server) expired(it iterator, now time.Time) bool {
	return now.UnixNano()-it.issued > int64(s.cfg.iteratorTTL)
}
