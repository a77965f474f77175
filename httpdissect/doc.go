// Package httpdissect gives the HTTP head of a WebSocket upgrade (the
// request and its answer) a field tree like codec.Dissect's, with
// Wireshark's display filter names: http.request.method, http.request.uri,
// http.host, http.sec_websocket_protocol, http.response.code, … (a header
// Wireshark has no field for, such as Origin, is an http.request.line or
// http.response.line). It is compiled into the WebAssembly client, so it
// imports neither fmt nor net/http.
package httpdissect
