// Package web holds Waybill's pages (the operator panel and the customer pages) as built
// by `make generate` (Vite, from web/src into web/dist), embedded so that the gateway
// serves them from the binary: `go build` alone gives a working binary.
package web

import (
	"embed"
	"io/fs"
)

//go:embed all:dist
var dist embed.FS

// Assets returns the built pages: index.html and assets/ (files named by their content
// hash, so they may be cached forever).
func Assets() fs.FS {
	sub, err := fs.Sub(dist, "dist")
	if err != nil {
		panic(err) // the folder is embedded above: it cannot be missing
	}
	return sub
}
