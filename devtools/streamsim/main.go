// Command streamsim is a local DynamoDB Streams simulator for integration tests and benchmarks.
//
// DynamoDB Local gives every stream exactly one shard and no rate limits. streamsim answers the
// DynamoDB Streams JSON API (DescribeStream, ListStreams, GetShardIterator, GetRecords, as sent by
// boto3's dynamodbstreams client) like the real service does at scale: several shards per stream,
// each owning a slice of the partition-key hash space, shard splits (a parent closes, two children
// take its halves), the per-shard GetRecords limits, DescribeStream limits, retention trimming and
// expiring iterators. Records are kept as pre-encoded JSON so that GetRecords only concatenates.
//
// Two modes, which can be combined:
//
//   - generator (-table): one stream whose changes streamsim makes itself at -rate changes a second
//     over -keys keys (60% put, 25% update, 15% delete, from a seeded RNG), keeping the ground
//     truth (GET /sim/truth).
//   - front (-upstream): any stream ARN asked for that streamsim does not know is looked up on a
//     DynamoDB Local; streamsim follows that stream (GetRecords on the upstream shards in lineage
//     order) and re-shards its records by the hash of the partition key, under the same ARN.
//
// Flags:
//
//	-port N               listen on 127.0.0.1:N (0: any free port; the line printed names it)
//	-shards N             open shards per stream at the start (default 4)
//	-split-every D        split -split-count open shards of every stream each D (Go duration; 0 = never)
//	-split-count K        shards split per tick, widest hash slice first, ties oldest (default 1)
//	-page-size N          shards per DescribeStream page at most, 1..100 (default 100)
//	-latency D            added to every API call before it is answered (default 0)
//	-get-records-rate R   accepted GetRecords per shard in any sliding second (default 5; 0 = unlimited)
//	-max-readers M        GetRecords in flight on one shard at most (default 2; 0 = unlimited)
//	-describe-rate R      DescribeStream calls per second for the whole server (default 10; 0 = unlimited)
//	-throttle-rate P      share of GetRecords refused at random with LimitExceededException (default 0)
//	-seed S               seed of the generator's and the throttling RNGs (default 1)
//	-retention D          records older than D are trimmed; closed, emptied shards expire (0 = keep forever)
//	-iterator-ttl D       shard iterators expire after D (default 15m)
//	-upstream URL         front mode: the DynamoDB Local endpoint, http://127.0.0.1:PORT
//	-table NAME           generator mode: the table whose stream is simulated
//	-rate R               generator: changes per second in total (default 0; POST /sim/rate changes it)
//	-keys K               generator: keys key-000000 .. key-<K-1> (default 1000)
//	-payload BYTES        generator: size of the payload attribute (default 100)
//
// Control and inspection (JSON): GET /sim/stats, GET /sim/shards?stream=ARN,
// POST /sim/split?stream=ARN&count=K, POST /sim/rate?value=R, POST /sim/generate?count=N (N records
// made at once), GET /sim/truth?stream=ARN. The stream parameter may be left out when there is
// only one stream. Once listening, one line "streamsim listening on http://127.0.0.1:PORT" goes
// to stdout; logs go to stderr.
package main

import (
	"errors"
	"flag"
	"fmt"
	"log"
	"net"
	"net/http"
	"os"
	"time"
)

type config struct {
	port           int
	shards         int
	splitEvery     time.Duration
	splitCount     int
	pageSize       int
	latency        time.Duration
	getRecordsRate int
	maxReaders     int
	describeRate   int
	throttleRate   float64
	seed           int64
	retention      time.Duration
	iteratorTTL    time.Duration
	upstream       string
	table          string
	rate           float64
	keys           int
	payload        int
}

func parseFlags(args []string) (config, error) {
	var c config
	fs := flag.NewFlagSet("streamsim", flag.ContinueOnError)
	fs.IntVar(&c.port, "port", 0, "listen on 127.0.0.1:N (0: any free port)")
	fs.IntVar(&c.shards, "shards", 4, "open shards per stream at the start")
	fs.DurationVar(&c.splitEvery, "split-every", 0, "split -split-count shards each D (0 = never)")
	fs.IntVar(&c.splitCount, "split-count", 1, "shards split per tick")
	fs.IntVar(&c.pageSize, "page-size", 100, "shards per DescribeStream page at most (1..100)")
	fs.DurationVar(&c.latency, "latency", 0, "added to every API call")
	fs.IntVar(&c.getRecordsRate, "get-records-rate", 5, "GetRecords per shard per sliding second (0 = unlimited)")
	fs.IntVar(&c.maxReaders, "max-readers", 2, "GetRecords in flight per shard (0 = unlimited)")
	fs.IntVar(&c.describeRate, "describe-rate", 10, "DescribeStream calls per second (0 = unlimited)")
	fs.Float64Var(&c.throttleRate, "throttle-rate", 0, "share of GetRecords refused at random")
	fs.Int64Var(&c.seed, "seed", 1, "RNG seed")
	fs.DurationVar(&c.retention, "retention", 0, "trim records older than D (0 = keep forever)")
	fs.DurationVar(&c.iteratorTTL, "iterator-ttl", 15*time.Minute, "shard iterators expire after D")
	fs.StringVar(&c.upstream, "upstream", "", "front mode: DynamoDB Local endpoint")
	fs.StringVar(&c.table, "table", "", "generator mode: table name")
	fs.Float64Var(&c.rate, "rate", 0, "generator: changes per second")
	fs.IntVar(&c.keys, "keys", 1000, "generator: number of keys")
	fs.IntVar(&c.payload, "payload", 100, "generator: payload bytes")
	if err := fs.Parse(args); err != nil {
		return c, err
	}
	var problems []error
	check := func(ok bool, format string, a ...any) {
		if !ok {
			problems = append(problems, fmt.Errorf(format, a...))
		}
	}
	check(c.port >= 0 && c.port < 65536, "-port: got %d; must be 0..65535", c.port)
	check(c.shards >= 1, "-shards: got %d; must be at least 1", c.shards)
	check(c.splitEvery >= 0, "-split-every: got %s; must not be negative", c.splitEvery)
	check(c.splitCount >= 1, "-split-count: got %d; must be at least 1", c.splitCount)
	check(c.pageSize >= 1 && c.pageSize <= 100, "-page-size: got %d; must be 1..100", c.pageSize)
	check(c.latency >= 0, "-latency: got %s; must not be negative", c.latency)
	check(c.getRecordsRate >= 0, "-get-records-rate: got %d; must not be negative", c.getRecordsRate)
	check(c.maxReaders >= 0, "-max-readers: got %d; must not be negative", c.maxReaders)
	check(c.describeRate >= 0, "-describe-rate: got %d; must not be negative", c.describeRate)
	check(c.throttleRate >= 0 && c.throttleRate <= 1, "-throttle-rate: got %g; must be 0..1", c.throttleRate)
	check(c.retention >= 0, "-retention: got %s; must not be negative", c.retention)
	check(c.iteratorTTL > 0, "-iterator-ttl: got %s; must be positive", c.iteratorTTL)
	check(c.rate >= 0, "-rate: got %g; must not be negative", c.rate)
	check(c.keys >= 1, "-keys: got %d; must be at least 1", c.keys)
	check(c.payload >= 0, "-payload: got %d; must not be negative", c.payload)
	check(c.table != "" || c.upstream != "", "one of -table (generator mode) or -upstream (front mode) is required")
	return c, errors.Join(problems...)
}

func main() {
	log.SetPrefix("streamsim: ")
	cfg, err := parseFlags(os.Args[1:])
	if err != nil {
		if !errors.Is(err, flag.ErrHelp) {
			fmt.Fprintln(os.Stderr, "streamsim:", err)
		}
		os.Exit(2)
	}
	srv := newServer(cfg, time.Now())
	ln, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", cfg.port))
	if err != nil {
		log.Fatalf("cannot listen on 127.0.0.1:%d: %v", cfg.port, err)
	}
	go srv.background()
	fmt.Printf("streamsim listening on http://%s\n", ln.Addr())
	httpServer := &http.Server{Handler: srv, ReadHeaderTimeout: 10 * time.Second}
	log.Fatal(httpServer.Serve(ln))
}
