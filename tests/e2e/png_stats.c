/* tests/e2e/png_stats.c — what a screenshot shows, without image libraries
 * (the test suite depends on nothing but the build's own packages):
 *   awq_png_stats FILE.png [X Y W H]
 * decodes an 8-bit, non-interlaced PNG (grey, grey+alpha, RGB, RGBA) with
 * its own inflate (RFC 1950/1951) and prints, for the whole image or the
 * rectangle given,
 *   width W height H colors N nonwhite F
 * N = distinct RGB colours, F = share of pixels with a channel below 245.
 * A blank page is 1 colour and 0.0 non-white; a page of charts has
 * hundreds of colours (antialiasing). Exit 1 on a malformed or unsupported
 * file, 2 on bad usage. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void die(const char *m) {
    fprintf(stderr, "awq_png_stats: %s\n", m);
    exit(1);
}

/* ---------------------------------------------------------------- inflate */

typedef struct {
    const uint8_t *in;
    size_t n, pos;
    uint32_t bitbuf;
    int bitcnt;
    uint8_t *out;
    size_t olen, ocap;
} inf_state;

static int getbit(inf_state *s) {
    if (s->bitcnt == 0) {
        if (s->pos >= s->n) die("deflate stream truncated");
        s->bitbuf = s->in[s->pos++];
        s->bitcnt = 8;
    }
    int b = (int)(s->bitbuf & 1);
    s->bitbuf >>= 1;
    s->bitcnt--;
    return b;
}

static uint32_t getbits(inf_state *s, int n) {
    uint32_t v = 0;
    for (int i = 0; i < n; i++) v |= (uint32_t)getbit(s) << i;
    return v;
}

static void put(inf_state *s, uint8_t b) {
    if (s->olen == s->ocap) die("image data larger than its header says");
    s->out[s->olen++] = b;
}

#define MAXBITS 15

typedef struct {
    short count[MAXBITS + 1];
    short symbol[320];
} huffman;

/* Canonical code from code lengths; returns 0, or -1 when over-subscribed. */
static int build(huffman *h, const short *len, int n) {
    memset(h->count, 0, sizeof h->count);
    for (int s = 0; s < n; s++) h->count[len[s]]++;
    if (h->count[0] == n) return 0;
    int left = 1;
    for (int l = 1; l <= MAXBITS; l++) {
        left <<= 1;
        left -= h->count[l];
        if (left < 0) return -1;
    }
    short offs[MAXBITS + 1];
    offs[1] = 0;
    for (int l = 1; l < MAXBITS; l++) offs[l + 1] = (short)(offs[l] + h->count[l]);
    for (int s = 0; s < n; s++)
        if (len[s]) h->symbol[offs[len[s]]++] = (short)s;
    return 0;
}

static int decode(inf_state *s, const huffman *h) {
    int code = 0, first = 0, index = 0;
    for (int l = 1; l <= MAXBITS; l++) {
        code |= getbit(s);
        int count = h->count[l];
        if (code - count < first) return h->symbol[index + (code - first)];
        index += count;
        first += count;
        first <<= 1;
        code <<= 1;
    }
    die("bad Huffman code");
    return -1;
}

static void codes(inf_state *s, const huffman *lc, const huffman *dc) {
    static const short lbase[29] = {3,  4,  5,  6,  7,  8,  9,  10, 11,  13,  15,  17,  19,  23, 27,
                                    31, 35, 43, 51, 59, 67, 83, 99, 115, 131, 163, 195, 227, 258};
    static const short lext[29] = {0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2,
                                   2, 3, 3, 3, 3, 4, 4, 4, 4, 5, 5, 5, 5, 0};
    static const short dbase[30] = {1,    2,    3,    4,    5,    7,     9,     13,    17,  25,
                                    33,   49,   65,   97,   129,  193,   257,   385,   513, 769,
                                    1025, 1537, 2049, 3073, 4097, 6145, 8193, 12289, 16385, 24577};
    static const short dext[30] = {0, 0, 0, 0, 1, 1, 2, 2,  3,  3,  4,  4,  5,  5,  6,
                                   6, 7, 7, 8, 8, 9, 9, 10, 10, 11, 11, 12, 12, 13, 13};
    for (;;) {
        int sym = decode(s, lc);
        if (sym < 256) {
            put(s, (uint8_t)sym);
        } else if (sym == 256) {
            return;
        } else {
            sym -= 257;
            if (sym >= 29) die("bad length symbol");
            size_t len = (size_t)lbase[sym] + getbits(s, lext[sym]);
            int ds = decode(s, dc);
            if (ds >= 30) die("bad distance symbol");
            size_t dist = (size_t)dbase[ds] + getbits(s, dext[ds]);
            if (dist > s->olen) die("distance too far back");
            while (len--) put(s, s->out[s->olen - dist]);
        }
    }
}

static void inflate_all(inf_state *s) {
    int last;
    do {
        last = getbit(s);
        int type = (int)getbits(s, 2);
        if (type == 0) {
            s->bitbuf = 0;
            s->bitcnt = 0;
            if (s->pos + 4 > s->n) die("stored block truncated");
            unsigned len = s->in[s->pos] | (unsigned)s->in[s->pos + 1] << 8;
            unsigned nlen = s->in[s->pos + 2] | (unsigned)s->in[s->pos + 3] << 8;
            s->pos += 4;
            if ((len ^ 0xffffu) != nlen) die("stored block length check");
            if (s->pos + len > s->n) die("stored block truncated");
            for (unsigned i = 0; i < len; i++) put(s, s->in[s->pos + i]);
            s->pos += len;
        } else if (type == 1 || type == 2) {
            short lengths[320];
            huffman lc, dc;
            int nlen = 288, ndist = 30;
            if (type == 1) {
                int k = 0;
                for (; k < 144; k++) lengths[k] = 8;
                for (; k < 256; k++) lengths[k] = 9;
                for (; k < 280; k++) lengths[k] = 7;
                for (; k < 288; k++) lengths[k] = 8;
                for (k = 0; k < 30; k++) lengths[288 + k] = 5;
            } else {
                static const short order[19] = {16, 17, 18, 0, 8,  7, 9,  6, 10, 5,
                                                11, 4,  12, 3, 13, 2, 14, 1, 15};
                nlen = (int)getbits(s, 5) + 257;
                ndist = (int)getbits(s, 5) + 1;
                int ncode = (int)getbits(s, 4) + 4;
                if (nlen > 286 || ndist > 30) die("bad dynamic block counts");
                short cl[19] = {0};
                for (int k = 0; k < ncode; k++) cl[order[k]] = (short)getbits(s, 3);
                huffman ch;
                if (build(&ch, cl, 19) != 0) die("bad code-length code");
                int k = 0;
                while (k < nlen + ndist) {
                    int sym = decode(s, &ch);
                    if (sym < 16) {
                        lengths[k++] = (short)sym;
                    } else {
                        short v = 0;
                        int rep;
                        if (sym == 16) {
                            if (k == 0) die("repeat with no first length");
                            v = lengths[k - 1];
                            rep = 3 + (int)getbits(s, 2);
                        } else if (sym == 17) {
                            rep = 3 + (int)getbits(s, 3);
                        } else {
                            rep = 11 + (int)getbits(s, 7);
                        }
                        if (k + rep > nlen + ndist) die("too many lengths");
                        while (rep--) lengths[k++] = v;
                    }
                }
                /* move the distance lengths to their fixed place */
                memmove(lengths + 288, lengths + nlen, sizeof(short) * (size_t)ndist);
                for (int q = nlen; q < 288; q++) lengths[q] = 0;
            }
            if (build(&lc, lengths, nlen) != 0) die("bad literal/length code");
            if (build(&dc, lengths + 288, ndist) != 0) die("bad distance code");
            codes(s, &lc, &dc);
        } else {
            die("bad block type");
        }
    } while (!last);
}

/* -------------------------------------------------------------------- PNG */

static uint32_t be32(const uint8_t *p) {
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static int paeth(int a, int b, int c) {
    int p = a + b - c, pa = abs(p - a), pb = abs(p - b), pc = abs(p - c);
    return pa <= pb && pa <= pc ? a : pb <= pc ? b : c;
}

int main(int argc, char **argv) {
    if (argc != 2 && argc != 6) {
        fprintf(stderr, "usage: awq_png_stats FILE.png [X Y W H]\n");
        return 2;
    }
    FILE *f = fopen(argv[1], "rb");
    if (!f) die("cannot open the file");
    fseek(f, 0, SEEK_END);
    long fsz = ftell(f);
    fseek(f, 0, SEEK_SET);
    if (fsz < 8 || fsz > (1L << 30)) die("not a PNG (size)");
    uint8_t *file = malloc((size_t)fsz);
    if (!file || fread(file, 1, (size_t)fsz, f) != (size_t)fsz) die("cannot read the file");
    fclose(f);
    static const uint8_t sig[8] = {137, 80, 78, 71, 13, 10, 26, 10};
    if (memcmp(file, sig, 8) != 0) die("not a PNG (signature)");
    uint32_t W = 0, H = 0;
    int depth = 0, ctype = -1, interlace = 0;
    uint8_t *idat = malloc((size_t)fsz);
    size_t nidat = 0;
    for (size_t p = 8; p + 12 <= (size_t)fsz;) {
        uint32_t len = be32(file + p);
        if (len > (size_t)fsz - p - 12) die("chunk runs past the end");
        const uint8_t *type = file + p + 4, *data = file + p + 8;
        if (!memcmp(type, "IHDR", 4) && len >= 13) {
            W = be32(data);
            H = be32(data + 4);
            depth = data[8];
            ctype = data[9];
            interlace = data[12];
        } else if (!memcmp(type, "IDAT", 4)) {
            memcpy(idat + nidat, data, len);
            nidat += len;
        } else if (!memcmp(type, "IEND", 4)) {
            break;
        }
        p += 12 + (size_t)len;
    }
    int ch = ctype == 0 ? 1 : ctype == 2 ? 3 : ctype == 4 ? 2 : ctype == 6 ? 4 : 0;
    if (!W || !H || W > 20000 || H > 40000) die("missing or absurd IHDR");
    if (depth != 8 || ch == 0 || interlace != 0)
        die("only 8-bit non-interlaced grey/RGB(A) images are supported");
    if (nidat < 2 || (idat[0] & 0x0f) != 8) die("IDAT is not a zlib deflate stream");
    size_t stride = (size_t)W * (size_t)ch;
    inf_state s = {idat + 2, nidat - 2, 0, 0, 0, NULL, 0, (stride + 1) * H};
    s.out = malloc(s.ocap);
    if (!s.out) die("out of memory");
    inflate_all(&s);
    if (s.olen != s.ocap) die("image data shorter than its header says");
    /* unfilter in place: row y's bytes follow its filter byte */
    uint8_t *img = malloc(stride * H);
    if (!img) die("out of memory");
    for (uint32_t y = 0; y < H; y++) {
        const uint8_t *src = s.out + y * (stride + 1);
        uint8_t *row = img + y * stride, *up = y ? row - stride : NULL;
        int ft = src[0];
        src++;
        for (size_t x = 0; x < stride; x++) {
            int a = x >= (size_t)ch ? row[x - ch] : 0, b = up ? up[x] : 0,
                c = (up && x >= (size_t)ch) ? up[x - ch] : 0, v;
            switch (ft) {
            case 0: v = src[x]; break;
            case 1: v = src[x] + a; break;
            case 2: v = src[x] + b; break;
            case 3: v = src[x] + ((a + b) >> 1); break;
            case 4: v = src[x] + paeth(a, b, c); break;
            default: die("bad filter type"); return 1;
            }
            row[x] = (uint8_t)v;
        }
    }
    uint32_t x0 = 0, y0 = 0, w = W, h = H;
    if (argc == 6) {
        long v[4];
        for (int i = 0; i < 4; i++) {
            char *end;
            v[i] = strtol(argv[2 + i], &end, 10);
            if (*end || v[i] < 0) {
                fprintf(stderr, "awq_png_stats: bad rectangle\n");
                return 2;
            }
        }
        if (v[0] >= (long)W || v[1] >= (long)H || v[2] < 1 || v[3] < 1) die("rectangle outside");
        x0 = (uint32_t)v[0];
        y0 = (uint32_t)v[1];
        w = (uint32_t)(v[2] < (long)(W - x0) ? v[2] : (long)(W - x0));
        h = (uint32_t)(v[3] < (long)(H - y0) ? v[3] : (long)(H - y0));
    }
    /* distinct colours: open-addressing set of 24-bit RGB values */
    const size_t cap = (size_t)1 << 22;
    uint32_t *set = calloc(cap, sizeof(uint32_t));
    if (!set) die("out of memory");
    uint64_t colours = 0, nonwhite = 0;
    for (uint32_t y = y0; y < y0 + h; y++)
        for (uint32_t x = x0; x < x0 + w; x++) {
            const uint8_t *px = img + (size_t)y * stride + (size_t)x * ch;
            uint32_t r = px[0], g = ch >= 3 ? px[1] : px[0], b = ch >= 3 ? px[2] : px[0];
            if (r < 245 || g < 245 || b < 245) nonwhite++;
            uint32_t key = (r << 16 | g << 8 | b) + 1; /* 0 marks empty */
            size_t i = (key * 2654435761u) & (cap - 1);
            while (set[i] && set[i] != key) i = (i + 1) & (cap - 1);
            if (!set[i]) {
                set[i] = key;
                colours++;
            }
        }
    printf("width %u height %u colors %llu nonwhite %.4f\n", W, H, (unsigned long long)colours,
           (double)nonwhite / ((double)w * (double)h));
    free(set);
    free(img);
    free(s.out);
    free(idat);
    free(file);
    return 0;
}
