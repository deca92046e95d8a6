package main

import (
	"crypto/md5"
	"encoding/binary"
	"fmt"
	"math/rand/v2"
	"strconv"
	"time"
)

// keyHash places a partition key value in the hash space: the first 8 bytes of the MD5 of
// "<type letter>:<value>", e.g. "S:key-000001".
func keyHash(typ, value string) uint64 {
	sum := md5.Sum([]byte(typ + ":" + value))
	return binary.BigEndian.Uint64(sum[:8])
}

// appendEpoch appends t as epoch seconds with a millisecond fraction, as a JSON number.
func appendEpoch(b []byte, t time.Time) []byte {
	ms := t.UnixMilli()
	b = strconv.AppendInt(b, ms/1000, 10)
	frac := ms % 1000
	return append(b, '.', byte('0'+frac/100), byte('0'+frac/10%10), byte('0'+frac%10))
}

// generator makes the changes of one simulated table and keeps its ground truth. Every field is
// guarded by the stream's mutex, so a change, its record and the truth move together.
type generator struct {
	st      *stream
	srv     *server
	keys    []string
	hashes  []uint64
	exists  []bool
	touched []bool
	images  [][]byte // the last image of each key, nil when deleted
	rng     *rand.Rand
	letters []byte
	payload int
	rate    float64
	carry   float64
	records int64
}

func (s *server) addGenerator(now time.Time) {
	label := now.UTC().Format("2006-01-02T15:04:05.000")
	meta := streamMeta{
		arn:       fmt.Sprintf("arn:aws:dynamodb:sim:000000000000:table/%s/stream/%s", s.cfg.table, label),
		label:     label,
		table:     s.cfg.table,
		viewType:  "NEW_IMAGE",
		created:   appendEpoch(nil, now),
		keySchema: []byte(`[{"AttributeName":"pk","KeyType":"HASH"}]`),
		hashAttr:  "pk",
	}
	st := newStream(s, meta, 1, func() uint64 { return s.seq.Load() + 1 })
	g := &generator{
		st: st, srv: s, rng: rand.New(rand.NewPCG(uint64(s.cfg.seed), 0x67656e)),
		payload: s.cfg.payload, rate: s.cfg.rate,
		exists: make([]bool, s.cfg.keys), touched: make([]bool, s.cfg.keys), images: make([][]byte, s.cfg.keys),
	}
	for i := 0; i < s.cfg.keys; i++ {
		key := fmt.Sprintf("key-%06d", i)
		g.keys = append(g.keys, key)
		g.hashes = append(g.hashes, keyHash("S", key))
	}
	const alphabet = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
	g.letters = make([]byte, 2*g.payload+1)
	for i := range g.letters {
		g.letters[i] = alphabet[g.rng.IntN(len(alphabet))]
	}
	st.gen = g
	s.add(st)
	go g.run()
}

// run makes rate changes a second in total, smoothly: a 5 ms tick carries the fractional part.
func (g *generator) run() {
	ticker := time.NewTicker(5 * time.Millisecond)
	last := time.Now()
	for now := range ticker.C {
		dt := now.Sub(last).Seconds()
		last = now
		g.st.mu.Lock()
		if g.rate <= 0 {
			g.carry = 0
		} else {
			g.carry += g.rate * dt
			n := int(g.carry)
			g.carry -= float64(n)
			for i := 0; i < n; i++ {
				g.change(now)
			}
		}
		g.st.mu.Unlock()
	}
}

func (g *generator) setRate(r float64) {
	g.st.mu.Lock()
	g.rate = r
	g.st.mu.Unlock()
}

// generate makes changes until count records were made.
func (g *generator) generate(count int) {
	g.st.mu.Lock()
	defer g.st.mu.Unlock()
	now := time.Now()
	for made := 0; made < count; {
		if g.change(now) {
			made++
		}
	}
}

// change applies one random put (60%), update (25%) or delete (15%); the caller holds the stream's
// mutex. A delete of a missing key makes no record, as in DynamoDB.
func (g *generator) change(now time.Time) bool {
	roll := g.rng.Float64()
	k := g.rng.IntN(len(g.keys))
	key := g.keys[k]
	event := "INSERT"
	if g.exists[k] {
		event = "MODIFY"
	}
	var image []byte
	if roll >= 0.85 {
		if !g.exists[k] {
			return false
		}
		event = "REMOVE"
	} else {
		ts := appendEpoch(nil, now)
		v := strconv.AppendUint(nil, g.srv.value.Add(1), 10)
		off := g.rng.IntN(g.payload + 1)
		image = make([]byte, 0, 80+len(key)+g.payload)
		image = append(image, `{"pk":{"S":"`...)
		image = append(image, key...)
		image = append(image, `"},"v":{"N":"`...)
		image = append(image, v...)
		image = append(image, `"},"written_at":{"N":"`...)
		image = append(image, ts...)
		image = append(image, `"},"payload":{"S":"`...)
		image = append(image, g.letters[off:off+g.payload]...)
		image = append(image, `"}}`...)
	}
	seq := g.srv.seq.Add(1)
	size := 2 + len(key)
	if image != nil {
		size += 2 + len(key) + 1 + numberSize(g.srv.value.Load()) + 10 + 8 + 7 + g.payload
	}
	b := make([]byte, 0, 300+len(image))
	b = fmt.Appendf(b, `{"eventID":"%016x%016x","eventName":"%s",`, seq, g.rng.Uint64(), event)
	b = append(b, `"eventVersion":"1.1","eventSource":"aws:dynamodb","awsRegion":"sim","dynamodb":{"ApproximateCreationDateTime":`...)
	b = appendEpoch(b, now)
	b = append(b, `,"Keys":{"pk":{"S":"`...)
	b = append(b, key...)
	b = append(b, `"}}`...)
	if image != nil {
		b = append(b, `,"NewImage":`...)
		b = append(b, image...)
	}
	b = append(b, `,"SequenceNumber":"`...)
	b = appendSeq(b, seq)
	b = append(b, `","SizeBytes":`...)
	b = strconv.AppendInt(b, int64(size), 10)
	b = append(b, `,"StreamViewType":"NEW_IMAGE"}}`...)
	g.st.put(g.hashes[k], record{seq: seq, at: now.UnixNano(), data: b})
	g.exists[k] = image != nil
	g.touched[k] = true
	g.images[k] = image
	g.records++
	return true
}

// numberSize is roughly what DynamoDB counts for a number: one byte per two digits, plus one.
func numberSize(n uint64) int { return (len(strconv.FormatUint(n, 10))+1)/2 + 1 }

// truth is {"records": n, "items": {"<pk>": <image or null>}} for every key changed so far.
func (g *generator) truth() []byte {
	g.st.mu.Lock()
	defer g.st.mu.Unlock()
	b := fmt.Appendf(nil, `{"records":%d,"items":{`, g.records)
	first := true
	for k, key := range g.keys {
		if !g.touched[k] {
			continue
		}
		if !first {
			b = append(b, ',')
		}
		first = false
		b = append(b, '"')
		b = append(b, key...)
		b = append(b, `":`...)
		if g.images[k] == nil {
			b = append(b, "null"...)
		} else {
			b = append(b, g.images[k]...)
		}
	}
	return append(b, "}}"...)
}
