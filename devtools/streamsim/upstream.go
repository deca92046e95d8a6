package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"
)

// DynamoDB Local accepts any signature but refuses a request without one.
const fakeAuthorization = "AWS4-HMAC-SHA256 Credential=local/20260101/us-east-1/dynamodb/aws4_request, " +
	"SignedHeaders=host, Signature=00"

// upstream is the DynamoDB Local that front mode follows.
type upstream struct {
	base   string
	client *http.Client
}

type upstreamError struct {
	status    int
	code, msg string
}

func (e *upstreamError) Error() string { return fmt.Sprintf("HTTP %d %s: %s", e.status, e.code, e.msg) }

func upstreamCode(err error) string {
	var ue *upstreamError
	if errors.As(err, &ue) {
		return ue.code
	}
	return ""
}

func newUpstream(base string) *upstream {
	return &upstream{base: strings.TrimRight(base, "/"), client: &http.Client{
		Timeout: 30 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 16}}}
}

func (u *upstream) call(target string, req, out any) error {
	body, err := json.Marshal(req)
	if err != nil {
		return err
	}
	r, err := http.NewRequest(http.MethodPost, u.base+"/", bytes.NewReader(body))
	if err != nil {
		return err
	}
	r.Header.Set("X-Amz-Target", target)
	r.Header.Set("Content-Type", "application/x-amz-json-1.0")
	r.Header.Set("Authorization", fakeAuthorization)
	resp, err := u.client.Do(r)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		return err
	}
	if resp.StatusCode != http.StatusOK {
		var e struct {
			Type    string `json:"__type"`
			Message string `json:"message"`
			Upper   string `json:"Message"`
		}
		_ = json.Unmarshal(data, &e)
		code := e.Type[strings.LastIndexByte(e.Type, '#')+1:]
		return &upstreamError{status: resp.StatusCode, code: code, msg: e.Message + e.Upper}
	}
	return json.Unmarshal(data, out)
}

type upstreamShard struct {
	ShardId             string
	ParentShardId       string
	SequenceNumberRange struct{ StartingSequenceNumber, EndingSequenceNumber string }
}

type upstreamDescription struct {
	StreamArn, StreamLabel, StreamViewType, TableName string
	CreationRequestDateTime                           json.RawMessage
	KeySchema                                         json.RawMessage
	Shards                                            []upstreamShard
	LastEvaluatedShardId                              string
}

// describe gives the upstream stream with all its shards (every page).
func (u *upstream) describe(arn string) (upstreamDescription, error) {
	var all upstreamDescription
	start := ""
	for {
		req := map[string]any{"StreamArn": arn}
		if start != "" {
			req["ExclusiveStartShardId"] = start
		}
		var out struct{ StreamDescription upstreamDescription }
		if err := u.call("DynamoDBStreams_20120810.DescribeStream", req, &out); err != nil {
			return all, err
		}
		shards := append(all.Shards, out.StreamDescription.Shards...)
		all = out.StreamDescription
		all.Shards = shards
		if all.LastEvaluatedShardId == "" {
			return all, nil
		}
		start = all.LastEvaluatedShardId
	}
}

func (u *upstream) hashAttribute(table string) (string, error) {
	var out struct {
		Table struct {
			KeySchema []struct{ AttributeName, KeyType string }
		}
	}
	if err := u.call("DynamoDB_20120810.DescribeTable", map[string]string{"TableName": table}, &out); err != nil {
		return "", err
	}
	for _, k := range out.Table.KeySchema {
		if k.KeyType == "HASH" {
			return k.AttributeName, nil
		}
	}
	return "", fmt.Errorf("table %s has no HASH key", table)
}

func (u *upstream) listStreams(table string) ([]streamSummary, error) {
	req := map[string]any{}
	if table != "" {
		req["TableName"] = table
	}
	var out struct{ Streams []streamSummary }
	err := u.call("DynamoDBStreams_20120810.ListStreams", req, &out)
	return out.Streams, err
}
