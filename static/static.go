// Package static holds the page: HTML, CSS and ES modules, and the built
// WebAssembly client under wasm/ (made by `make wasm`). It is embedded into
// the lifeline binary with go:embed and served by `lifeline serve`.
//
// Nothing here is generated at run time and nothing from the network is ever
// inserted into the page as HTML: the scripts build DOM and SVG nodes and set
// their text.
package static

import "embed"

// FS is the page's files. wasm/main.wasm is present only after `make wasm`.
//
//go:embed index.html favicon.svg *.js style.css wasm lessons
var FS embed.FS
