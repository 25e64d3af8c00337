/*
 * Baseline for bench/convert: the checkpoint pass an upstream-style zTOC build
 * makes before its separate tar pass. It inflates a gzip file with zlib's
 * Z_BLOCK flush so it can stop at every deflate block boundary, and records a
 * checkpoint (compressed offset, bit count, uncompressed offset, last 32 KiB of
 * output) whenever more than SPAN bytes were produced since the previous one —
 * the placement rule of formats §4.4. Output is discarded; it prints the number
 * of checkpoints. Written for soci-ts against zlib's documented API.
 *
 *   cc -O2 -o zran_pass zran_pass.c -lz && ./zran_pass LAYER.tar.gz [SPAN]
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#define CHUNK (1 << 16)
#define WIN 32768

int main(int argc, char **argv) {
    if (argc < 2) { fprintf(stderr, "usage: %s FILE [SPAN]\n", argv[0]); return 2; }
    long long span = argc > 2 ? atoll(argv[2]) : 4194304;
    FILE *f = fopen(argv[1], "rb");
    if (!f) { perror(argv[1]); return 1; }
    static unsigned char in[CHUNK];
    static unsigned char ring[WIN];
    unsigned char *saved = NULL;
    size_t nsaved = 0, capsaved = 0;
    z_stream s;
    memset(&s, 0, sizeof s);
    if (inflateInit2(&s, 47) != Z_OK) return 1;
    long long totin = 0, totout = 0, last = 0;
    int ret = Z_OK;
    do {
        s.avail_in = fread(in, 1, CHUNK, f);
        if (ferror(f)) { perror("read"); return 1; }
        if (s.avail_in == 0) break;
        s.next_in = in;
        do {
            /* Output goes into the 32 KiB ring; when it is full, wrap. */
            if (s.avail_out == 0 || s.next_out == NULL) { s.next_out = ring + (totout % WIN); s.avail_out = WIN - (totout % WIN); }
            unsigned before_in = s.avail_in, before_out = s.avail_out;
            ret = inflate(&s, Z_BLOCK);
            totin += before_in - s.avail_in;
            totout += before_out - s.avail_out;
            if (ret == Z_NEED_DICT || ret == Z_DATA_ERROR || ret == Z_MEM_ERROR) { fprintf(stderr, "zlib error %d\n", ret); return 1; }
            if (ret == Z_STREAM_END) {
                if (s.avail_in == 0) { int c = fgetc(f); if (c == EOF) break; ungetc(c, f); }
                inflateReset2(&s, 47);
                ret = Z_OK;
                continue;
            }
            if ((s.data_type & 128) && !(s.data_type & 64) && (totout == 0 || totout - last > span)) {
                if (nsaved + 1 > capsaved) { capsaved = capsaved ? capsaved * 2 : 16; saved = realloc(saved, capsaved * (WIN + 24)); }
                unsigned char *rec = saved + nsaved * (WIN + 24);
                memcpy(rec, &totin, 8); memcpy(rec + 8, &totout, 8); rec[16] = s.data_type & 7;
                size_t pos = totout % WIN;
                memcpy(rec + 24, ring + pos, WIN - pos); memcpy(rec + 24 + WIN - pos, ring, pos);
                nsaved++;
                last = totout;
            }
        } while (s.avail_in != 0);
    } while (1);
    inflateEnd(&s);
    fclose(f);
    printf("%zu checkpoints, %lld bytes in, %lld bytes out\n", nsaved, totin, totout);
    free(saved);
    return 0;
}
