package transport

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"net"
	"testing"
	"time"
)

// tcpPair returns both ends of a loopback TCP connection.
func tcpPair(t *testing.T) (server, client net.Conn) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	accepted := make(chan net.Conn, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			close(accepted)
			return
		}
		accepted <- c
	}()
	client, err = net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	server, ok := <-accepted
	if !ok {
		t.Fatal("accept failed")
	}
	t.Cleanup(func() { server.Close(); client.Close() })
	return server, client
}

// readFrame parses one unmasked server frame (RFC 6455 §5.2).
func readFrame(r *bufio.Reader) (op byte, payload []byte, err error) {
	var h [2]byte
	if _, err := io.ReadFull(r, h[:]); err != nil {
		return 0, nil, err
	}
	if h[0]&0x80 == 0 || h[1]&0x80 != 0 {
		return 0, nil, errors.New("want FIN set and no mask")
	}
	n := uint64(h[1] & 0x7f)
	switch n {
	case 126:
		var b [2]byte
		if _, err := io.ReadFull(r, b[:]); err != nil {
			return 0, nil, err
		}
		n = uint64(binary.BigEndian.Uint16(b[:]))
	case 127:
		var b [8]byte
		if _, err := io.ReadFull(r, b[:]); err != nil {
			return 0, nil, err
		}
		n = binary.BigEndian.Uint64(b[:])
	}
	payload = make([]byte, n)
	_, err = io.ReadFull(r, payload)
	return h[0] & 0x0f, payload, err
}

// TestWriteNowSendsValidFrames writes a ping and frames of every header
// length class in one writev and parses them back as a client would.
func TestWriteNowSendsValidFrames(t *testing.T) {
	server, client := tcpPair(t)
	cork := newCorkConn(server)
	if cork.raw == nil {
		t.Fatal("a TCP connection must offer its descriptor")
	}
	var frames [][]byte
	for _, n := range []int{0, 1, 125, 126, 127, 65535, 65536, 70000} {
		frames = append(frames, bytes.Repeat([]byte{byte('a' + n%26)}, n))
	}
	var sc flushScratch
	iov, total := sc.build(frames, true, nil, 0)
	done := make(chan error, 1)
	go func() {
		r := bufio.NewReader(client)
		op, p, err := readFrame(r)
		if err == nil && (op != 0x9 || len(p) != 0) {
			err = errors.New("the first frame must be an empty ping")
		}
		for i := 0; err == nil && i < len(frames); i++ {
			op, p, err = readFrame(r)
			if err == nil && (op != 0x1 || !bytes.Equal(p, frames[i])) {
				err = errors.New("frame " + string(rune('0'+i)) + " differs")
			}
		}
		done <- err
	}()
	written := 0
	for written < total {
		n, err := cork.writeNow(iov)
		if err != nil && !errors.Is(err, errWouldBlock) {
			t.Fatal(err)
		}
		if n > 0 {
			// The client is reading: send the rest the way the blocking writer does.
			if _, err := cork.Write(tail(iov, n)); err != nil {
				t.Fatal(err)
			}
			written = total
		}
	}
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the client did not get every frame")
	}
}

// TestWriteNowNeverBlocks fills a socket nobody reads: writeNow must return
// a partial write and then errWouldBlock, not wait.
func TestWriteNowNeverBlocks(t *testing.T) {
	server, _ := tcpPair(t)
	cork := newCorkConn(server)
	chunk := [][]byte{make([]byte, 1<<20)}
	for i := 0; ; i++ {
		n, err := cork.writeNow(chunk)
		if errors.Is(err, errWouldBlock) {
			return
		}
		if err != nil {
			t.Fatal(err)
		}
		if n < len(chunk[0]) && i > 0 {
			continue // partial: the next one finds the buffer full
		}
		if i > 1000 {
			t.Fatal("1 GiB written to a socket nobody reads")
		}
	}
}

func TestTail(t *testing.T) {
	bufs := [][]byte{[]byte("ab"), []byte("cde"), nil, []byte("f")}
	for n, want := range []string{"abcdef", "bcdef", "cdef", "def", "ef", "f", ""} {
		if got := string(tail(bufs, n)); got != want {
			t.Errorf("tail(%d) = %q, want %q", n, got, want)
		}
	}
}
