/* Compute kernels for kiln-bench's execution rows: the same C compiled to wasm (clang -O2,
 * freestanding, no imports) and natively (cc -O2, a shared library the harness dlopens).
 * Each kernel takes a size and returns a checksum, so the three builds can be compared. */
#include <stdint.h>

#define EXPORT(name) __attribute__((visibility("default"), export_name(#name)))
#ifndef __wasm__
#undef EXPORT
#define EXPORT(name) __attribute__((visibility("default")))
#endif

static uint32_t rng_state;
static uint32_t rng(void) {
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 17;
    rng_state ^= rng_state << 5;
    return rng_state;
}

/* Integer: sieve of Eratosthenes plus a 64x64 integer matrix product, n rounds. */
#define SIEVE 200000
static uint8_t sieve[SIEVE];
#define MN 64
static int32_t ma[MN * MN], mb[MN * MN], mc[MN * MN];

EXPORT(int_kernel) uint32_t int_kernel(uint32_t n) {
    uint32_t acc = 0;
    rng_state = 12345;
    for (uint32_t round = 0; round < n; round++) {
        for (uint32_t i = 0; i < SIEVE; i++) sieve[i] = 1;
        for (uint32_t i = 2; i * i < SIEVE; i++)
            if (sieve[i])
                for (uint32_t j = i * i; j < SIEVE; j += i) sieve[j] = 0;
        for (uint32_t i = 2; i < SIEVE; i++) acc += sieve[i] ? i : 0;
        for (int i = 0; i < MN * MN; i++) { ma[i] = (int32_t)(rng() & 0xff); mb[i] = (int32_t)(rng() & 0xff); }
        for (int i = 0; i < MN; i++)
            for (int j = 0; j < MN; j++) {
                int32_t s = 0;
                for (int k = 0; k < MN; k++) s += ma[i * MN + k] * mb[k * MN + j];
                mc[i * MN + j] = s;
            }
        for (int i = 0; i < MN * MN; i++) acc = acc * 31u + (uint32_t)mc[i];
    }
    return acc;
}

/* Floating point: an n-body simulation (5 bodies) and a mandelbrot tile. */
typedef struct { double x, y, z, vx, vy, vz, m; } body;
static body bodies[5];

static double isqrt_newton(double v) {
    /* sqrt without libm: the compiler turns this into f64.sqrt / sqrtsd */
    return __builtin_sqrt(v);
}

EXPORT(float_kernel) uint32_t float_kernel(uint32_t n) {
    for (int i = 0; i < 5; i++) {
        bodies[i].x = i * 1.1; bodies[i].y = i * -0.7; bodies[i].z = i * 0.3;
        bodies[i].vx = 0.01 * i; bodies[i].vy = -0.02 * i; bodies[i].vz = 0.005;
        bodies[i].m = 1.0 + i * 0.1;
    }
    const double dt = 0.01;
    for (uint32_t step = 0; step < n * 20000; step++) {
        for (int i = 0; i < 5; i++)
            for (int j = i + 1; j < 5; j++) {
                double dx = bodies[i].x - bodies[j].x, dy = bodies[i].y - bodies[j].y, dz = bodies[i].z - bodies[j].z;
                double d2 = dx * dx + dy * dy + dz * dz + 0.01;
                double mag = dt / (d2 * isqrt_newton(d2));
                bodies[i].vx -= dx * bodies[j].m * mag; bodies[i].vy -= dy * bodies[j].m * mag; bodies[i].vz -= dz * bodies[j].m * mag;
                bodies[j].vx += dx * bodies[i].m * mag; bodies[j].vy += dy * bodies[i].m * mag; bodies[j].vz += dz * bodies[i].m * mag;
            }
        for (int i = 0; i < 5; i++) {
            bodies[i].x += dt * bodies[i].vx; bodies[i].y += dt * bodies[i].vy; bodies[i].z += dt * bodies[i].vz;
        }
    }
    uint32_t iters = 0;
    for (uint32_t r = 0; r < n; r++)
        for (int py = 0; py < 96; py++)
            for (int px = 0; px < 96; px++) {
                double cr = -2.0 + px * (2.5 / 96), ci = -1.25 + py * (2.5 / 96), zr = 0, zi = 0;
                int k = 0;
                while (k < 200 && zr * zr + zi * zi < 4.0) {
                    double t = zr * zr - zi * zi + cr;
                    zi = 2 * zr * zi + ci;
                    zr = t;
                    k++;
                }
                iters += (uint32_t)k;
            }
    double e = 0;
    for (int i = 0; i < 5; i++) e += bodies[i].x + bodies[i].y * 3 + bodies[i].z * 7;
    return iters ^ (uint32_t)(int64_t)(e * 1000.0);
}

/* Hashing: CRC-32 (table) and FNV-1a/64 over a 256 KiB buffer, n passes. */
#define HBUF (256 * 1024)
static uint8_t hbuf[HBUF];
static uint32_t crc_table[256];

EXPORT(hash_kernel) uint32_t hash_kernel(uint32_t n) {
    for (uint32_t i = 0; i < 256; i++) {
        uint32_t c = i;
        for (int k = 0; k < 8; k++) c = c & 1 ? 0xedb88320u ^ (c >> 1) : c >> 1;
        crc_table[i] = c;
    }
    rng_state = 777;
    for (uint32_t i = 0; i < HBUF; i++) hbuf[i] = (uint8_t)rng();
    uint32_t acc = 0;
    for (uint32_t r = 0; r < n; r++) {
        uint32_t crc = 0xffffffffu;
        uint64_t fnv = 0xcbf29ce484222325ull;
        for (uint32_t i = 0; i < HBUF; i++) {
            crc = crc_table[(crc ^ hbuf[i]) & 0xff] ^ (crc >> 8);
            fnv = (fnv ^ hbuf[i]) * 0x100000001b3ull;
        }
        acc += ~crc ^ (uint32_t)(fnv >> 17);
        hbuf[r % HBUF] ^= (uint8_t)acc;
    }
    return acc;
}

/* Compression: a greedy LZ77 compressor (hash table of 4-byte prefixes, LZ4-like tokens)
 * over 512 KiB of text-like data, then decompression and a check, n passes. */
#define LZIN (512 * 1024)
static uint8_t lz_in[LZIN], lz_out[LZIN + LZIN / 8 + 64], lz_back[LZIN];
static uint32_t lz_hash[1 << 14];

static uint32_t read32(const uint8_t *p) { return p[0] | p[1] << 8 | p[2] << 16 | (uint32_t)p[3] << 24; }

static uint32_t lz_compress(void) {
    for (int i = 0; i < (1 << 14); i++) lz_hash[i] = 0;
    uint32_t ip = 0, op = 0, anchor = 0;
    while (ip + 8 < LZIN) {
        uint32_t h = (read32(lz_in + ip) * 2654435761u) >> 18;
        uint32_t cand = lz_hash[h];
        lz_hash[h] = ip;
        if (cand < ip && ip - cand < 65535 && read32(lz_in + cand) == read32(lz_in + ip)) {
            uint32_t len = 4;
            while (ip + len < LZIN && len < 255 + 4 && lz_in[cand + len] == lz_in[ip + len]) len++;
            uint32_t lit = ip - anchor;
            while (lit > 0) { /* literal runs of at most 255 */
                uint32_t l = lit > 255 ? 255 : lit;
                lz_out[op++] = 0; lz_out[op++] = (uint8_t)l;
                for (uint32_t k = 0; k < l; k++) lz_out[op++] = lz_in[anchor++];
                lit -= l;
            }
            uint32_t off = ip - cand;
            lz_out[op++] = 1; lz_out[op++] = (uint8_t)(len - 4);
            lz_out[op++] = (uint8_t)off; lz_out[op++] = (uint8_t)(off >> 8);
            ip += len;
            anchor = ip;
        } else {
            ip++;
        }
    }
    uint32_t lit = LZIN - anchor;
    while (lit > 0) {
        uint32_t l = lit > 255 ? 255 : lit;
        lz_out[op++] = 0; lz_out[op++] = (uint8_t)l;
        for (uint32_t k = 0; k < l; k++) lz_out[op++] = lz_in[anchor++];
        lit -= l;
    }
    return op;
}

static uint32_t lz_decompress(uint32_t n) {
    uint32_t ip = 0, op = 0;
    while (ip < n) {
        uint8_t tag = lz_out[ip++];
        uint32_t len = lz_out[ip++];
        if (tag == 0) {
            for (uint32_t k = 0; k < len; k++) lz_back[op++] = lz_out[ip++];
        } else {
            uint32_t off = lz_out[ip] | lz_out[ip + 1] << 8;
            ip += 2;
            len += 4;
            for (uint32_t k = 0; k < len; k++, op++) lz_back[op] = lz_back[op - off];
        }
    }
    return op;
}

EXPORT(lz_kernel) uint32_t lz_kernel(uint32_t n) {
    static const char *words[] = {"kiln ", "wasm ", "compile ", "the ", "of ", "module ", "cranelift ",
                                  "native ", "code ", "runtime ", "\n", "benchmark ", "a ", "and "};
    rng_state = 4242;
    for (uint32_t i = 0; i < LZIN;) {
        const char *w = words[rng() % 14];
        while (*w && i < LZIN) lz_in[i++] = (uint8_t)*w++;
    }
    uint32_t acc = 0;
    for (uint32_t r = 0; r < n; r++) {
        uint32_t c = lz_compress();
        uint32_t d = lz_decompress(c);
        uint32_t same = d == LZIN;
        for (uint32_t i = 0; same && i < LZIN; i += 4096) same = lz_back[i] == lz_in[i];
        acc = acc * 31u + c + same;
        lz_in[(r * 7919) % LZIN] = 'x';
    }
    return acc;
}
