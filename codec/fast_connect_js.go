//go:build js

package codec

// decodeFast is the CONNECT fast path, left out of the WebAssembly client
// (fast_connect.go): the general decoder reads every CONNECT there.
func (p *Connect) decodeFast([]byte) bool { return false }
