// Package codec encodes, decodes, validates and dissects MQTT 3.1.1 and 5.0
// control packets.
//
// It is pure Go with no dependencies outside the standard library and no use
// of fmt, so it stays small inside the WebAssembly client; it is shared by the
// browser client, the proxy, the CLI and capture import.
package codec
