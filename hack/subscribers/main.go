// subscribers: thousands of graphql-transport-ws subscribers of one flowgate gateway in one
// process, each a WebSocket with one subscription, light enough that the gateway is what gets
// measured (the benchmark pins this process to the other core).
//
//	subscribers --url ws://127.0.0.1:8443/graphql --clients 5000 --query '...' --expect EMITTING
//
// It prints `ready <seconds> <failures>` once every client has its snapshot (--snapshot
// messages), then waits for a line on stdin (the driver is making the change) and prints one
// JSON line: the wall-clock time (Unix seconds) each client first received a message containing
// --expect, the failures, and the messages and bytes received.
package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"net/http"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/gorilla/websocket"
)

type settings struct {
	url       string
	clients   int
	query     string
	token     string
	snapshot  int
	expect    []byte
	rate      float64
	countRows []string
	timeout   time.Duration
}

// crowd is every client's outcome; counters are under mu, the waits are channels closed once.
type crowd struct {
	s           settings
	mu          sync.Mutex
	readyLeft   int
	hitsLeft    int
	allReady    chan struct{}
	allHit      chan struct{}
	failures    []string
	failCount   int
	hits        []float64
	messages    int
	bytes       int
	maxRowCount int
	conns       []*websocket.Conn
	running     sync.WaitGroup // every client until its connection ends and its counts are added
}

func (c *crowd) snapshotted() {
	c.readyLeft--
	if c.readyLeft == 0 {
		close(c.allReady)
	}
}

func (c *crowd) hit() {
	c.hitsLeft--
	if c.hitsLeft == 0 {
		close(c.allHit)
	}
}

// fail counts a client out of both waits, once.
func (c *crowd) fail(why string, ready, hit bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.failCount++
	if len(c.failures) < 20 {
		c.failures = append(c.failures, why)
	}
	if !ready {
		c.snapshotted()
	}
	if !hit {
		c.hit()
	}
}

func (c *crowd) run() {
	defer c.running.Done()
	header := http.Header{}
	dialer := websocket.Dialer{
		HandshakeTimeout: c.s.timeout,
		Subprotocols:     []string{"graphql-transport-ws"},
		ReadBufferSize:   1024,
		WriteBufferSize:  1024,
	}
	conn, response, err := dialer.Dial(c.s.url, header)
	if err != nil {
		status := ""
		if response != nil {
			status = fmt.Sprintf(" (HTTP %d)", response.StatusCode)
		}
		c.fail("connect: "+err.Error()+status, false, false)
		return
	}
	c.mu.Lock()
	c.conns = append(c.conns, conn)
	c.mu.Unlock()
	init := map[string]any{"type": "connection_init", "payload": map[string]any{}}
	if c.s.token != "" {
		init["payload"] = map[string]string{"authorization": "Bearer " + c.s.token}
	}
	subscribe := map[string]any{"id": "1", "type": "subscribe", "payload": map[string]any{"query": c.s.query}}
	if conn.WriteJSON(init) != nil || conn.WriteJSON(subscribe) != nil {
		c.fail("could not send the subscription", false, false)
		return
	}
	snapshotLeft := c.s.snapshot
	ready, hit := snapshotLeft == 0, len(c.s.expect) == 0
	if ready {
		c.mu.Lock()
		c.snapshotted()
		c.mu.Unlock()
	}
	if hit {
		c.mu.Lock()
		c.hit()
		c.mu.Unlock()
	}
	rows := map[string]int{}
	messages, received := 0, 0
	defer func() {
		c.mu.Lock()
		c.messages += messages
		c.bytes += received
		for _, n := range rows {
			if n > c.maxRowCount {
				c.maxRowCount = n
			}
		}
		c.mu.Unlock()
	}()
	for {
		_, data, err := conn.ReadMessage()
		if err != nil {
			if !ready || !hit {
				c.fail("connection lost: "+err.Error(), ready, hit)
			}
			return
		}
		if bytes.HasPrefix(data, []byte(`{"type":"connection_ack"`)) {
			continue
		}
		if bytes.HasPrefix(data, []byte(`{"type":"ping"`)) {
			_ = conn.WriteMessage(websocket.TextMessage, []byte(`{"type":"pong"}`)) // this reader is the only writer now
			continue
		}
		messages++
		received += len(data)
		head := data
		if len(head) > 40 {
			head = head[:40]
		}
		if bytes.Contains(head, []byte(`"type":"error"`)) {
			if len(data) > 200 {
				data = data[:200]
			}
			c.fail(string(data), ready, hit)
			ready, hit = true, true
			continue
		}
		if !ready {
			snapshotLeft--
			if snapshotLeft == 0 {
				ready = true
				c.mu.Lock()
				c.snapshotted()
				c.mu.Unlock()
			}
			continue
		}
		for _, node := range c.s.countRows {
			if bytes.Contains(data, []byte(`"node":"`+node+`"`)) {
				rows[node]++
			}
		}
		if !hit && bytes.Contains(data, c.s.expect) {
			at := float64(time.Now().UnixNano()) / 1e9
			hit = true
			c.mu.Lock()
			c.hits = append(c.hits, at)
			c.hit()
			c.mu.Unlock()
		}
	}
}

func wait(done chan struct{}, timeout time.Duration) bool {
	select {
	case <-done:
		return true
	case <-time.After(timeout):
		return false
	}
}

func main() {
	var s settings
	var expect, countRows string
	var timeout float64
	flag.StringVar(&s.url, "url", "", "the gateway's WebSocket URL (ws://host:port/graphql)")
	flag.IntVar(&s.clients, "clients", 0, "subscribers to open")
	flag.StringVar(&s.query, "query", "", "the subscription document")
	flag.StringVar(&s.token, "token", "", "bearer token for connection_init")
	flag.IntVar(&s.snapshot, "snapshot", 1, "messages making up a client's snapshot")
	flag.StringVar(&expect, "expect", "", "bytes that mark the awaited change in a message (none: no wait)")
	flag.Float64Var(&s.rate, "rate", 500, "new connections per second")
	flag.StringVar(&countRows, "count-rows", "", "node names whose appearances per client are counted")
	flag.Float64Var(&timeout, "timeout", 60, "seconds to wait for the snapshots, and again for the change")
	flag.Parse()
	if s.url == "" || s.clients <= 0 || s.query == "" || s.rate <= 0 {
		fmt.Fprintln(os.Stderr, "subscribers: --url, --query and a positive --clients and --rate are needed")
		os.Exit(2)
	}
	s.expect = []byte(expect)
	if countRows != "" {
		s.countRows = strings.Split(countRows, ",")
	}
	s.timeout = time.Duration(timeout * float64(time.Second))
	c := &crowd{s: s, readyLeft: s.clients, hitsLeft: s.clients, allReady: make(chan struct{}), allHit: make(chan struct{}),
		hits: []float64{}, failures: []string{}}

	started := time.Now()
	// Opened at --rate, each in its own goroutine, so that a slow handshake does not slow the ramp.
	for i := 0; i < s.clients; i++ {
		c.running.Add(1)
		go c.run()
		due := started.Add(time.Duration(float64(i+1) / s.rate * float64(time.Second)))
		if behind := time.Until(due); behind > 0 {
			time.Sleep(behind)
		}
	}
	if !wait(c.allReady, s.timeout) {
		c.mu.Lock()
		c.failures = append(c.failures, fmt.Sprintf("%d clients had no snapshot after %gs", c.readyLeft, timeout))
		c.failCount += c.readyLeft
		c.mu.Unlock()
	}
	c.mu.Lock()
	fmt.Printf("ready %.3f %d\n", time.Since(started).Seconds(), c.failCount)
	c.mu.Unlock()

	_, _ = bufio.NewReader(os.Stdin).ReadString('\n') // the driver is making the change
	if len(s.expect) > 0 && !wait(c.allHit, s.timeout) {
		c.mu.Lock()
		c.failures = append(c.failures, fmt.Sprintf("%d clients never saw the change within %gs", c.hitsLeft, timeout))
		c.failCount += c.hitsLeft
		c.mu.Unlock()
	}
	c.mu.Lock()
	conns := c.conns
	c.mu.Unlock()
	for _, conn := range conns {
		_ = conn.Close()
	}
	c.running.Wait()
	c.mu.Lock()
	defer c.mu.Unlock()
	result := map[string]any{
		"hits":          c.hits,
		"failures":      c.failures,
		"failure_count": c.failCount,
		"messages":      c.messages,
		"bytes":         c.bytes,
	}
	if s.countRows != nil {
		result["max_row_messages"] = c.maxRowCount
	}
	out, _ := json.Marshal(result)
	fmt.Println(string(out))
}
