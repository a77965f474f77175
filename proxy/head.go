package proxy

import (
	"bytes"
	"crypto/sha1"
	"encoding/base64"
	"net/http"

	"github.com/gorilla/websocket"
)

// maxHeadRecord bounds the HTTP head an upgrade entry carries.
const maxHeadRecord = 4096

// requestHead is the upgrade request's head as the proxy's HTTP server
// parsed it: the request line, Host, then the headers in Go's canonical
// form and sorted order (the browser's own order and case are not kept).
// A head longer than maxHeadRecord is cut there and says so.
func requestHead(r *http.Request) []byte {
	var b bytes.Buffer
	b.WriteString(r.Method + " " + r.RequestURI + " " + r.Proto + "\r\nHost: " + r.Host + "\r\n")
	r.Header.Write(&b)
	b.WriteString("\r\n")
	if b.Len() > maxHeadRecord {
		return append(b.Bytes()[:maxHeadRecord-len(headCut)], headCut...)
	}
	return b.Bytes()
}

// headCut ends a head cut at maxHeadRecord.
const headCut = "\r\nX-Lifeline: head cut at 4096 bytes\r\n\r\n"

// responseHead is the 101 answer gorilla/websocket writes for r (its
// Upgrader writes exactly these lines when, as here, it negotiates no
// compression and is given no extra headers).
func responseHead(r *http.Request, ws *websocket.Conn) []byte {
	h := sha1.Sum([]byte(r.Header.Get("Sec-WebSocket-Key") + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"))
	s := "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: " +
		base64.StdEncoding.EncodeToString(h[:]) + "\r\n"
	if p := ws.Subprotocol(); p != "" {
		s += "Sec-WebSocket-Protocol: " + p + "\r\n"
	}
	return []byte(s + "\r\n")
}
