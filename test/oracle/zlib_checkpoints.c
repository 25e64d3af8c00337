/*
 * Oracle for test/oracle/zlib_checkpoints_test.ts: the checkpoint placement
 * rule of formats §4.4 run by zlib itself (inflate with Z_BLOCK, gzip
 * auto-detect, members continued after Z_STREAM_END). Prints one line per
 * checkpoint: "IN OUT BITS WINDOW_CRC32" (the CRC-32 of the 32 KiB window as
 * stored, oldest byte first), or "error ..." on stderr with exit 1.
 * Written for soci-ts against zlib's documented API.
 *
 *   cc -O2 -o zlib_checkpoints zlib_checkpoints.c -lz && ./zlib_checkpoints FILE SPAN
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#define CHUNK 16384
#define WIN 32768

int main(int argc, char **argv) {
    if (argc != 3) { fprintf(stderr, "usage: %s FILE SPAN\n", argv[0]); return 2; }
    long long span = atoll(argv[2]);
    FILE *f = fopen(argv[1], "rb");
    if (!f) { perror(argv[1]); return 1; }
    static unsigned char in[CHUNK], ring[WIN], win[WIN];
    z_stream s;
    memset(&s, 0, sizeof s);
    if (inflateInit2(&s, 47) != Z_OK) return 1;
    long long totin = 0, totout = 0, last = 0;
    int ended = 0;
    for (;;) {
        if (s.avail_in == 0) {
            s.avail_in = fread(in, 1, CHUNK, f);
            s.next_in = in;
            if (s.avail_in == 0) break;
        }
        if (s.avail_out == 0 || s.next_out == NULL) {
            s.next_out = ring + (totout % WIN);
            s.avail_out = WIN - (totout % WIN);
        }
        unsigned bi = s.avail_in, bo = s.avail_out;
        int ret = inflate(&s, Z_BLOCK);
        totin += bi - s.avail_in;
        totout += bo - s.avail_out;
        ended = 0;
        if (ret == Z_NEED_DICT || ret == Z_DATA_ERROR || ret == Z_MEM_ERROR) { fprintf(stderr, "error: zlib %d at %lld\n", ret, totin); return 1; }
        if (ret == Z_STREAM_END) {
            ended = 1;
            if (s.avail_in == 0) { int c = fgetc(f); if (c == EOF) break; ungetc(c, f); }
            inflateReset2(&s, 47);
            continue;
        }
        if ((s.data_type & 128) && !(s.data_type & 64) && (totout == 0 || totout - last > span)) {
            size_t pos = totout % WIN;
            memcpy(win, ring + pos, WIN - pos);
            memcpy(win + WIN - pos, ring, pos);
            printf("%lld %lld %d %lu\n", totin, totout, s.data_type & 7, crc32(0L, win, WIN));
            last = totout;
        }
    }
    if (!ended) { fprintf(stderr, "error: truncated at %lld\n", totin); return 1; }
    inflateEnd(&s);
    return 0;
}
