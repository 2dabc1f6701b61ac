package server

import (
	"io"
	"net"
	"testing"
	"time"
)

// A client that announces a JSON body and never sends it is cut off, so
// unauthenticated connections cannot be held open for ever.
func TestSlowJSONBodyCutOff(t *testing.T) {
	old := jsonReadTimeout
	jsonReadTimeout = 200 * time.Millisecond
	defer func() { jsonReadTimeout = old }()
	ts := start(t, Config{})
	c, err := net.Dial("tcp", ts.Addr())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := io.WriteString(c, "POST /v1/login HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{"); err != nil {
		t.Fatal(err)
	}
	// The server answers or closes; either way the read ends. The deadline
	// here only bounds a failing test.
	c.SetReadDeadline(time.Now().Add(20 * time.Second))
	if _, err := io.ReadAll(c); err != nil {
		t.Fatalf("the connection was held open: %v", err)
	}
}
