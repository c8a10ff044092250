// Go programs that run restic's own chunker (restic/chunker v0.4.0, the version restic 0.14.0
// vendors) to make test vectors and benchmark baselines. Built offline against Debian's
// golang-github-restic-chunker-dev: GOFLAGS=-mod=mod GOPROXY=off go build ./...
module restic-ts/bench/go

go 1.19

require github.com/restic/chunker v0.4.0

replace github.com/restic/chunker => /usr/share/gocode/src/github.com/restic/chunker
