package jsclient

import "embed"

//go:embed src
var Files embed.FS
