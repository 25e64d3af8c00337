// toc_pass: the TOC half of upstream's BuildZtoc as a bench baseline — Go's
// compress/gzip + archive/tar over a layer blob, every entry header read and
// every data byte drained (upstream walks the tar this way to collect TOC
// entries). Prints the entry count and data bytes.
//
//	go build -o toc_pass toc_pass.go && ./toc_pass LAYER.tar.gz
package main

import (
	"archive/tar"
	"bufio"
	"compress/gzip"
	"fmt"
	"io"
	"os"
)

func main() {
	if len(os.Args) != 2 {
		fmt.Fprintln(os.Stderr, "usage: toc_pass LAYER.tar.gz")
		os.Exit(2)
	}
	f, err := os.Open(os.Args[1])
	if err != nil {
		fail(err)
	}
	defer f.Close()
	gz, err := gzip.NewReader(bufio.NewReaderSize(f, 1<<20))
	if err != nil {
		fail(err)
	}
	tr := tar.NewReader(gz)
	entries, bytes := 0, int64(0)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			fail(err)
		}
		_ = h.Name
		n, err := io.Copy(io.Discard, tr)
		if err != nil {
			fail(err)
		}
		entries++
		bytes += n
	}
	fmt.Printf("%d entries, %d data bytes\n", entries, bytes)
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "toc_pass:", err)
	os.Exit(1)
}
