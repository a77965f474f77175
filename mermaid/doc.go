// Package mermaid writes the diagram's model (a diagram.View) as Mermaid
// sequence-diagram text: the page's "Export Mermaid", computed in Go and
// reached through the wasm (lifeline._mermaid), so the format is written
// once. It escapes text from the wire for Mermaid's grammar; it does not
// draw, lay out or parse Mermaid.
package mermaid
