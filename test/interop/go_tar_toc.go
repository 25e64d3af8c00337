// Oracle for test/interop/go_tar_toc_test.ts: lists a tar stream the way
// upstream's zTOC builder sees it, with Go's own archive/tar (the reader
// upstream uses) over a byte-counting reader. Reads a plain tar, or a gzip
// stream (every member, as Go's gzip reader does), from the file argument.
// Prints one JSON object per entry, then {"end": CONSUMED} or
// {"error": "...", "at": CONSUMED}. Run with TZ=UTC (formats §3.4).
// Written for soci-ts from the archive/tar documentation and formats §3.
//
//   go build -o go_tar_toc go_tar_toc.go && TZ=UTC ./go_tar_toc LAYER
package main

import (
	"archive/tar"
	"bufio"
	"compress/gzip"
	"encoding/json"
	"io"
	"os"
	"sort"
)

type counter struct {
	r io.Reader
	n int64
}

func (c *counter) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	return n, err
}

type entry struct {
	Name     []byte      `json:"name"`
	Type     string      `json:"type"`
	Offset   int64       `json:"offset"`
	Size     int64       `json:"size"`
	Linkname []byte      `json:"linkname"`
	Mode     uint32      `json:"mode"`
	Uid      uint32      `json:"uid"`
	Gid      uint32      `json:"gid"`
	Uname    []byte      `json:"uname"`
	Gname    []byte      `json:"gname"`
	ModTime  string      `json:"mod_time"`
	Devmajor int64       `json:"devmajor"`
	Devminor int64       `json:"devminor"`
	Xattrs   [][2][]byte `json:"xattrs"`
}

var types = map[byte]string{
	tar.TypeReg: "reg", tar.TypeLink: "hardlink", tar.TypeSymlink: "symlink", tar.TypeChar: "char",
	tar.TypeBlock: "block", tar.TypeDir: "dir", tar.TypeFifo: "fifo",
}

func main() {
	out := bufio.NewWriter(os.Stdout)
	defer out.Flush()
	enc := json.NewEncoder(out)
	f, err := os.Open(os.Args[1])
	if err != nil {
		enc.Encode(map[string]interface{}{"error": err.Error(), "at": 0})
		return
	}
	br := bufio.NewReader(f)
	var src io.Reader = br
	if magic, _ := br.Peek(2); len(magic) == 2 && magic[0] == 0x1f && magic[1] == 0x8b {
		zr, err := gzip.NewReader(br)
		if err != nil {
			enc.Encode(map[string]interface{}{"error": err.Error(), "at": 0})
			return
		}
		src = zr
	}
	c := &counter{r: src}
	tr := tar.NewReader(c)
	for {
		hdr, err := tr.Next()
		if err == io.EOF {
			enc.Encode(map[string]interface{}{"end": c.n})
			return
		}
		if err != nil {
			enc.Encode(map[string]interface{}{"error": err.Error(), "at": c.n})
			return
		}
		t, ok := types[hdr.Typeflag]
		if !ok {
			// What upstream's builder fails on (formats §3.1).
			enc.Encode(map[string]interface{}{"error": "unsupported input tar entry '" + string([]byte{hdr.Typeflag}) + "'", "at": c.n})
			return
		}
		mt := ""
		if b, err := hdr.ModTime.MarshalText(); err == nil {
			mt = string(b)
		}
		keys := make([]string, 0, len(hdr.PAXRecords))
		for k := range hdr.PAXRecords {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		xs := [][2][]byte{}
		for _, k := range keys {
			xs = append(xs, [2][]byte{[]byte(k), []byte(hdr.PAXRecords[k])})
		}
		enc.Encode(entry{
			Name: []byte(hdr.Name), Type: t, Offset: c.n, Size: hdr.Size, Linkname: []byte(hdr.Linkname),
			Mode: uint32(hdr.Mode), Uid: uint32(hdr.Uid), Gid: uint32(hdr.Gid),
			Uname: []byte(hdr.Uname), Gname: []byte(hdr.Gname), ModTime: mt,
			Devmajor: hdr.Devmajor, Devminor: hdr.Devminor, Xattrs: xs,
		})
	}
}
