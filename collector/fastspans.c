/* Native fast path for the commonest export: OTLP/protobuf traces -> Arrow column buffers.
 *
 * collector/spans.py is the definition of how a span becomes a row; this file does the same walk
 * in C for the spans it is sure about, and gives up (returns None) on anything else, so that the
 * Python decoder handles the whole request. Giving up is always safe: it only costs time. It gives
 * up on invalid ids (those spans are rejected one by one in Python), invalid UTF-8, strings or
 * names that would be truncated, too many attributes, events or links, values nested 32 levels
 * deep, repeated attribute keys, bytes values, JSON it is not sure orjson would read the same way,
 * and malformed protobuf.
 *
 * Resource and scope columns, the http columns, model calls priced with genai-prices and the
 * duplicate-call check are left to Python (collector/fast_traces.py), which reuses the functions
 * of collector/resource.py, collector/spans.py and collector/genai.py for them.
 * tests/collector/test_fast_traces.py compares both paths row by row.
 *
 * The walk runs without the GIL, so requests decode on both cores while DuckDB inserts, and the
 * column buffers are handed to pyarrow without a copy. Also here: the request digest (XXH64).
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <stdio.h>
#include <math.h>
#ifdef __SSE2__
#include <emmintrin.h>
#endif

/* the limits of collector/limits.py (bytes here, characters there: bytes >= characters, so a
 * value within the byte limit is never truncated by the Python path either) */
#define MAX_NAME_BYTES 4096
#define MAX_MESSAGE_BYTES (16 * 1024)
#define MAX_STRING_BYTES (1024 * 1024)
#define MAX_ATTRIBUTES 2048
#define MAX_DEPTH 32
#define MAX_EVENTS 1024
#define MAX_LINKS 1024
#define MAX_JSON_DEPTH 500

/* ---------- growable byte buffers ---------- */

typedef struct {
    char *data;
    size_t len, cap;
} Buf;

static int buf_reserve(Buf *b, size_t extra) {
    if (b->len + extra <= b->cap) return 1;
    size_t cap = b->cap ? b->cap : 256;
    while (cap < b->len + extra) cap *= 2;
    char *data = realloc(b->data, cap);
    if (!data) return 0;
    b->data = data;
    b->cap = cap;
    return 1;
}

static inline int buf_put(Buf *b, const void *s, size_t n) {
    if (!buf_reserve(b, n)) return 0;
    memcpy(b->data + b->len, s, n);
    b->len += n;
    return 1;
}

static inline int buf_putc(Buf *b, char c) { return buf_put(b, &c, 1); }
static inline int buf_puts(Buf *b, const char *s) { return buf_put(b, s, strlen(s)); }
static void buf_free(Buf *b) { free(b->data); b->data = NULL; b->len = b->cap = 0; }

/* ---------- Arrow columns: a string column or a fixed-width one, each with a validity byte per row ---------- */

typedef struct {
    Buf data;    /* string bytes, or fixed-width values */
    Buf offsets; /* int32 offsets (string columns only) */
    Buf valid;   /* one byte per row, packed into a bitmap when handed over */
    Py_ssize_t nulls;
} Column;

static int col_start_value(Column *c) { /* string column: offsets start at 0 */
    if (c->offsets.len == 0) {
        int32_t zero = 0;
        return buf_put(&c->offsets, &zero, 4);
    }
    return 1;
}

static int col_end_string(Column *c, int valid) {
    if (c->data.len > INT32_MAX) return 0;
    int32_t end = (int32_t)c->data.len;
    if (!valid) c->nulls++;
    return buf_put(&c->offsets, &end, 4) && buf_putc(&c->valid, valid ? 1 : 0);
}

static int col_string(Column *c, const char *s, size_t n) {
    return col_start_value(c) && buf_put(&c->data, s, n) && col_end_string(c, 1);
}

static int col_null_string(Column *c) { return col_start_value(c) && col_end_string(c, 0); }

static int col_fixed(Column *c, const void *value, size_t width, int valid) {
    if (!valid) c->nulls++;
    return buf_put(&c->data, value, width) && buf_putc(&c->valid, valid ? 1 : 0);
}

static void col_free(Column *c) { buf_free(&c->data); buf_free(&c->offsets); buf_free(&c->valid); }

/* ---------- protobuf wire reading ---------- */

typedef struct {
    const uint8_t *p, *end;
} Reader;

static inline int read_varint(Reader *r, uint64_t *out) {
    if (r->p < r->end && *r->p < 0x80) { /* the common case: one byte */
        *out = *r->p++;
        return 1;
    }
    uint64_t value = 0;
    for (int shift = 0; shift < 70; shift += 7) {
        if (r->p >= r->end) return 0;
        uint8_t byte = *r->p++;
        value |= (uint64_t)(byte & 0x7f) << shift;
        if (!(byte & 0x80)) { *out = value; return 1; }
    }
    return 0;
}

/* One field: its number, wire type, and (for LEN) the bytes, (for VARINT/I64/I32) the value. */
typedef struct {
    uint32_t number;
    int wire;
    uint64_t value;
    const uint8_t *bytes;
    size_t len;
} Field;

static inline int next_field(Reader *r, Field *f) {
    uint64_t tag;
    if (!read_varint(r, &tag)) return 0;
    f->number = (uint32_t)(tag >> 3);
    f->wire = (int)(tag & 7);
    if (f->number == 0 || (tag >> 3) > 0x1fffffff) return 0;
    switch (f->wire) {
    case 0:
        return read_varint(r, &f->value);
    case 1:
        if (r->end - r->p < 8) return 0;
        memcpy(&f->value, r->p, 8);
        r->p += 8;
        return 1;
    case 5: {
        if (r->end - r->p < 4) return 0;
        uint32_t v;
        memcpy(&v, r->p, 4);
        f->value = v;
        r->p += 4;
        return 1;
    }
    case 2: {
        uint64_t n;
        if (!read_varint(r, &n) || n > (uint64_t)(r->end - r->p)) return 0;
        f->bytes = r->p;
        f->len = (size_t)n;
        r->p += n;
        return 1;
    }
    default:
        return 0; /* groups (3, 4) and unknown wire types: let upb decide */
    }
}

/* ---------- UTF-8 validation (protobuf `string` fields must be valid UTF-8, as upb checks) ---------- */

/* Eight bytes at a time: most of what agents send is ASCII text with nothing to escape. */
#define ONES 0x0101010101010101ULL
#define HIGHS 0x8080808080808080ULL

static inline uint64_t load64(const uint8_t *s) {
    uint64_t w;
    memcpy(&w, s, 8);
    return w;
}

/* Non-zero when one of the 8 bytes is below 0x20, a '"', a '\\' (or, as a false alarm, >= 0x80). */
static inline uint64_t needs_escape(uint64_t w) {
    uint64_t quote = w ^ (ONES * '"'), backslash = w ^ (ONES * '\\');
    return ((w - ONES * 0x20) | (quote - ONES) | (backslash - ONES)) & ~w & HIGHS;
}

/* How many bytes from s on need no attention inside a JSON string: no '"', no '\\', none below
 * 0x20 (bytes >= 0x80 are fine: UTF-8 is checked on its own). 16 bytes a step with SSE2, which
 * every x86-64 has, and 8 with the word trick elsewhere; the first byte that matters ends it. */
static inline size_t plain_prefix(const uint8_t *s, size_t n) {
    size_t i = 0;
#ifdef __SSE2__
    const __m128i quote = _mm_set1_epi8('"'), backslash = _mm_set1_epi8('\\'), control = _mm_set1_epi8(0x1f);
    for (; i + 16 <= n; i += 16) {
        __m128i v = _mm_loadu_si128((const __m128i *)(s + i));
        __m128i hit = _mm_or_si128(_mm_or_si128(_mm_cmpeq_epi8(v, quote), _mm_cmpeq_epi8(v, backslash)),
                                   _mm_cmpeq_epi8(_mm_min_epu8(v, control), v)); /* v <= 0x1f, unsigned */
        int mask = _mm_movemask_epi8(hit);
        if (mask) return i + (size_t)__builtin_ctz((unsigned)mask);
    }
#endif
    for (; i + 8 <= n && !needs_escape(load64(s + i)); i += 8) {}
    while (i < n && s[i] >= 0x20 && s[i] != '"' && s[i] != '\\') i++;
    return i;
}

/* How many bytes from s on are ASCII. */
static inline size_t ascii_prefix(const uint8_t *s, size_t n) {
    size_t i = 0;
#ifdef __SSE2__
    for (; i + 16 <= n; i += 16) {
        int mask = _mm_movemask_epi8(_mm_loadu_si128((const __m128i *)(s + i)));
        if (mask) return i + (size_t)__builtin_ctz((unsigned)mask);
    }
#endif
    for (; i + 8 <= n && !(load64(s + i) & HIGHS); i += 8) {}
    while (i < n && s[i] < 0x80) i++;
    return i;
}

static int valid_utf8(const uint8_t *s, size_t n) {
    size_t i = 0;
    while (i < n) {
        i += ascii_prefix(s + i, n - i);
        if (i >= n) break;
        uint8_t c = s[i];
        size_t extra;
        uint32_t cp;
        if (c >= 0xc2 && c <= 0xdf) { extra = 1; cp = c & 0x1f; }
        else if (c >= 0xe0 && c <= 0xef) { extra = 2; cp = c & 0x0f; }
        else if (c >= 0xf0 && c <= 0xf4) { extra = 3; cp = c & 0x07; }
        else return 0;
        if (i + extra >= n) return 0;
        for (size_t k = 1; k <= extra; k++) {
            if ((s[i + k] & 0xc0) != 0x80) return 0;
            cp = (cp << 6) | (s[i + k] & 0x3f);
        }
        if ((extra == 2 && cp < 0x800) || (extra == 3 && (cp < 0x10000 || cp > 0x10ffff))) return 0;
        if (cp >= 0xd800 && cp <= 0xdfff) return 0;
        i += extra + 1;
    }
    return 1;
}

/* ---------- JSON output: strings escaped as orjson escapes them ---------- */

static int json_string(Buf *b, const uint8_t *s, size_t n) {
    static const char hex[] = "0123456789abcdef";
    if (!buf_reserve(b, n + 2)) return 0;
    b->data[b->len++] = '"';
    size_t run = 0, i = 0;
    while (i < n) {
        i += plain_prefix(s + i, n - i);
        if (i >= n) break;
        uint8_t c = s[i];
        if (!buf_put(b, s + run, i - run)) return 0;
        run = ++i;
        char esc[6] = {'\\', 0, 0, 0, 0, 0};
        size_t len = 2;
        switch (c) {
        case '"': esc[1] = '"'; break;
        case '\\': esc[1] = '\\'; break;
        case '\b': esc[1] = 'b'; break;
        case '\t': esc[1] = 't'; break;
        case '\n': esc[1] = 'n'; break;
        case '\f': esc[1] = 'f'; break;
        case '\r': esc[1] = 'r'; break;
        default:
            esc[1] = 'u'; esc[2] = '0'; esc[3] = '0'; esc[4] = hex[c >> 4]; esc[5] = hex[c & 15];
            len = 6;
        }
        if (!buf_put(b, esc, len)) return 0;
    }
    return buf_put(b, s + run, n - run) && buf_putc(b, '"');
}

static int json_double(Buf *b, double d) {
    if (isnan(d)) return buf_puts(b, "\"NaN\"");
    if (isinf(d)) return buf_puts(b, d > 0 ? "\"Infinity\"" : "\"-Infinity\"");
    char text[40];
    for (int precision = 15; precision <= 17; precision++) { /* the shortest text that reads back the same */
        snprintf(text, sizeof text, "%.*g", precision, d);  /* (%g drops trailing zeros) */
        if (strtod(text, NULL) == d) break;
    }
    if (!strpbrk(text, ".eEn")) strcat(text, ".0"); /* stays a float, as orjson writes 1.0 */
    return buf_puts(b, text);
}

static int json_hex(Buf *b, const uint8_t *s, size_t n) {
    static const char hex[] = "0123456789abcdef";
    if (!buf_reserve(b, 2 * n + 2)) return 0;
    b->data[b->len++] = '"';
    for (size_t i = 0; i < n; i++) {
        b->data[b->len++] = hex[s[i] >> 4];
        b->data[b->len++] = hex[s[i] & 15];
    }
    b->data[b->len++] = '"';
    return 1;
}

/* ---------- JSON validation: would orjson.loads read this text? ---------- */

enum { JSON_INVALID = 0, JSON_VALID = 1, JSON_UNSURE = 2 };

typedef struct {
    const uint8_t *p, *end;
    int unsure;
} JsonScan;

static void json_ws(JsonScan *j) {
    while (j->p < j->end && (*j->p == ' ' || *j->p == '\t' || *j->p == '\n' || *j->p == '\r')) j->p++;
}

static int json_scan_string(JsonScan *j) { /* at the opening quote */
    j->p++;
    while (j->p < j->end) {
        j->p += plain_prefix(j->p, (size_t)(j->end - j->p));
        if (j->p >= j->end) return 0;
        uint8_t c = *j->p++;
        if (c == '"') return 1;
        if (c < 0x20) return 0;
        if (c == '\\') {
            if (j->p >= j->end) return 0;
            c = *j->p++;
            if (c == 'u') {
                if (j->end - j->p < 4) return 0;
                unsigned cp = 0;
                for (int k = 0; k < 4; k++) {
                    uint8_t h = j->p[k];
                    cp <<= 4;
                    if (h >= '0' && h <= '9') cp |= h - '0';
                    else if (h >= 'a' && h <= 'f') cp |= h - 'a' + 10;
                    else if (h >= 'A' && h <= 'F') cp |= h - 'A' + 10;
                    else return 0;
                }
                if (cp >= 0xd800 && cp <= 0xdfff) j->unsure = 1; /* surrogate pairs: orjson's rules, not ours */
                j->p += 4;
            } else if (!strchr("\"\\/bfnrt", c) || c == 0) {
                return 0;
            }
        }
    }
    return 0;
}

static int json_scan_number(JsonScan *j) {
    const uint8_t *start = j->p;
    if (j->p < j->end && *j->p == '-') j->p++;
    if (j->p >= j->end) return 0;
    if (*j->p == '0') {
        j->p++;
    } else if (*j->p >= '1' && *j->p <= '9') {
        while (j->p < j->end && *j->p >= '0' && *j->p <= '9') j->p++;
    } else {
        return 0;
    }
    if (j->p < j->end && *j->p == '.') {
        j->p++;
        if (j->p >= j->end || *j->p < '0' || *j->p > '9') return 0;
        while (j->p < j->end && *j->p >= '0' && *j->p <= '9') j->p++;
    }
    if (j->p < j->end && (*j->p == 'e' || *j->p == 'E')) {
        j->p++;
        if (j->p < j->end && (*j->p == '+' || *j->p == '-')) j->p++;
        const uint8_t *digits = j->p;
        if (j->p >= j->end || *j->p < '0' || *j->p > '9') return 0;
        while (j->p < j->end && *j->p >= '0' && *j->p <= '9') j->p++;
        if (j->p - digits > 2) j->unsure = 1; /* exponents past 99: infinity or zero, orjson's call */
    }
    if (j->p - start > 16) j->unsure = 1; /* big integers and long fractions: orjson's call */
    return 1;
}

static int json_scan_value(JsonScan *j, int depth) {
    if (depth > MAX_JSON_DEPTH) { j->unsure = 1; return 0; }
    json_ws(j);
    if (j->p >= j->end) return 0;
    uint8_t c = *j->p;
    if (c == '"') return json_scan_string(j);
    if (c == '{' || c == '[') {
        uint8_t close = c == '{' ? '}' : ']';
        j->p++;
        json_ws(j);
        if (j->p < j->end && *j->p == close) { j->p++; return 1; }
        for (;;) {
            if (c == '{') {
                json_ws(j);
                if (j->p >= j->end || *j->p != '"' || !json_scan_string(j)) return 0;
                json_ws(j);
                if (j->p >= j->end || *j->p != ':') return 0;
                j->p++;
            }
            if (!json_scan_value(j, depth + 1)) return 0;
            json_ws(j);
            if (j->p >= j->end) return 0;
            if (*j->p == ',') { j->p++; continue; }
            if (*j->p == close) { j->p++; return 1; }
            return 0;
        }
    }
    if (c == '-' || (c >= '0' && c <= '9')) return json_scan_number(j);
    size_t left = (size_t)(j->end - j->p);
    if (left >= 4 && !memcmp(j->p, "true", 4)) { j->p += 4; return 1; }
    if (left >= 4 && !memcmp(j->p, "null", 4)) { j->p += 4; return 1; }
    if (left >= 5 && !memcmp(j->p, "false", 5)) { j->p += 5; return 1; }
    return 0;
}

static int json_check(const uint8_t *s, size_t n) {
    JsonScan j = {s, s + n, 0};
    int ok = json_scan_value(&j, 0);
    if (ok) {
        json_ws(&j);
        ok = j.p == j.end;
    }
    if (j.unsure) return JSON_UNSURE;
    return ok ? JSON_VALID : JSON_INVALID;
}

/* ---------- attributes ---------- */

typedef struct {
    const uint8_t *key;
    size_t key_len;
    const uint8_t *value; /* the AnyValue message, NULL when the KeyValue has none */
    size_t value_len;
} Entry;

typedef struct {
    Entry *items;
    size_t len, cap;
} Entries;

/* the AnyValue's one field (read_any gives up on a second member of the oneof) */
typedef struct {
    int kind; /* 0 none, else the field number: 1 string, 2 bool, 3 int, 4 double, 5 array, 6 kvlist, 7 bytes */
    uint64_t scalar;
    const uint8_t *bytes;
    size_t len;
} AnyValue;

typedef struct {
    int give_up; /* set on anything the Python path should handle */
} Ctx;

static int read_any(Ctx *ctx, const uint8_t *s, size_t n, AnyValue *v) {
    Reader r = {s, s + n};
    Field f;
    memset(v, 0, sizeof *v);
    while (r.p < r.end) {
        if (!next_field(&r, &f)) return ctx->give_up = 1, 0;
        int expected = f.number == 2 || f.number == 3 ? 0 : f.number == 4 ? 1 : 2;
        /* newer kinds (string_value_strindex, ...) and a second member of the oneof (upb still
         * parses the one it replaces): Python's business */
        if (f.number > 7 || v->kind) return ctx->give_up = 1, 0;
        if (f.wire != expected) return ctx->give_up = 1, 0;
        v->kind = (int)f.number;
        v->scalar = f.value;
        v->bytes = f.bytes;
        v->len = f.len;
    }
    return 1;
}

static int entries_add(Entries *e, Entry item) {
    if (e->len == e->cap) {
        size_t cap = e->cap ? e->cap * 2 : 32;
        Entry *items = realloc(e->items, cap * sizeof *items);
        if (!items) return 0;
        e->items = items;
        e->cap = cap;
    }
    e->items[e->len++] = item;
    return 1;
}

/* A KeyValue list (LEN fields `number` of a message) -> entries; gives up on anything odd. */
static int read_key_values(Ctx *ctx, const uint8_t *s, size_t n, uint32_t number, Entries *out) {
    Reader r = {s, s + n};
    Field f;
    out->len = 0;
    while (r.p < r.end) {
        if (!next_field(&r, &f)) return ctx->give_up = 1, 0;
        if (f.number != number) continue;
        if (f.wire != 2) return ctx->give_up = 1, 0;
        Entry item = {(const uint8_t *)"", 0, NULL, 0};
        Reader kv = {f.bytes, f.bytes + f.len};
        Field g;
        int seen_value = 0;
        while (kv.p < kv.end) {
            if (!next_field(&kv, &g)) return ctx->give_up = 1, 0;
            if (g.number == 1) {
                if (g.wire != 2 || !valid_utf8(g.bytes, g.len)) return ctx->give_up = 1, 0;
                item.key = g.bytes;
                item.key_len = g.len;
            } else if (g.number == 2) {
                if (g.wire != 2 || seen_value++) return ctx->give_up = 1, 0;
                item.value = g.bytes;
                item.value_len = g.len;
            }
        }
        if (item.key_len > MAX_NAME_BYTES) return ctx->give_up = 1, 0;
        if (out->len >= MAX_ATTRIBUTES) return ctx->give_up = 1, 0;
        for (size_t i = 0; i < out->len; i++) { /* a repeated key: Python keeps the last value in the first's place */
            if (out->items[i].key_len == item.key_len && !memcmp(out->items[i].key, item.key, item.key_len))
                return ctx->give_up = 1, 0;
        }
        if (!entries_add(out, item)) return ctx->give_up = 1, 0;
    }
    return 1;
}

static int write_any(Ctx *ctx, Buf *b, const uint8_t *s, size_t n, int depth);

static int write_object(Ctx *ctx, Buf *b, const uint8_t *s, size_t n, uint32_t number, int depth) {
    Entries entries = {0};
    int ok = read_key_values(ctx, s, n, number, &entries) && buf_putc(b, '{');
    for (size_t i = 0; ok && i < entries.len; i++) {
        Entry *e = &entries.items[i];
        ok = (i == 0 || buf_putc(b, ',')) && json_string(b, e->key, e->key_len) && buf_putc(b, ':') &&
             write_any(ctx, b, e->value, e->value_len, depth);
    }
    ok = ok && buf_putc(b, '}');
    free(entries.items);
    return ok;
}

/* One AnyValue as JSON; `depth` as in collector/anyvalue.py any_value(). */
static int write_any(Ctx *ctx, Buf *b, const uint8_t *s, size_t n, int depth) {
    AnyValue v;
    if (!s) return buf_puts(b, "null");
    if (!read_any(ctx, s, n, &v)) return 0;
    switch (v.kind) {
    case 0:
        return buf_puts(b, "null");
    case 1:
        if (v.len > MAX_STRING_BYTES || !valid_utf8(v.bytes, v.len)) return ctx->give_up = 1, 0;
        return json_string(b, v.bytes, v.len);
    case 2:
        return buf_puts(b, v.scalar ? "true" : "false");
    case 3: {
        char text[24];
        snprintf(text, sizeof text, "%lld", (long long)(int64_t)v.scalar);
        return buf_puts(b, text);
    }
    case 4: {
        double d;
        memcpy(&d, &v.scalar, 8);
        return json_double(b, d);
    }
    case 5: {
        if (depth >= MAX_DEPTH) return ctx->give_up = 1, 0; /* the marker, or upb's refusal: Python's business */
        Reader r = {v.bytes, v.bytes + v.len};
        Field f;
        int first = 1;
        if (!buf_putc(b, '[')) return 0;
        while (r.p < r.end) {
            if (!next_field(&r, &f)) return ctx->give_up = 1, 0;
            if (f.number != 1) continue;
            if (f.wire != 2) return ctx->give_up = 1, 0;
            if ((!first && !buf_putc(b, ',')) || !write_any(ctx, b, f.bytes, f.len, depth + 1)) return 0;
            first = 0;
        }
        return buf_putc(b, ']');
    }
    case 6:
        if (depth >= MAX_DEPTH) return ctx->give_up = 1, 0;
        return write_object(ctx, b, v.bytes, v.len, 1, depth + 1);
    default: /* bytes_value (base64) and anything newer: the Python path */
        return ctx->give_up = 1, 0;
    }
}

static int key_is(const Entry *e, const char *name) {
    size_t n = strlen(name);
    return e->key_len == n && !memcmp(e->key, name, n);
}

static const Entry *find_key(const Entries *entries, const char *name) {
    for (size_t i = 0; i < entries->len; i++)
        if (key_is(&entries->items[i], name)) return &entries->items[i];
    return NULL;
}

/* A text-valued attribute as Python's `_optional_text` would give it: 1 text, 0 null; gives up on
 * other kinds (str() of a number or list is Python's business). */
static int optional_text(Ctx *ctx, const Entry *e, const uint8_t **text, size_t *len) {
    AnyValue v;
    if (!e || !e->value) return 0;
    if (!read_any(ctx, e->value, e->value_len, &v)) return 0;
    if (v.kind == 0) return 0;
    if (v.kind != 1 || v.len > MAX_STRING_BYTES || !valid_utf8(v.bytes, v.len)) return ctx->give_up = 1, 0;
    *text = v.bytes;
    *len = v.len;
    return 1;
}

/* ---------- logfire.json_schema: which attributes are JSON text ---------- */

typedef struct {
    const uint8_t *keys[64];
    size_t lens[64];
    int count;
} Declared;

/* The keys of the top-level "properties" object, as Python's json.loads(...).get("properties")
 * gives them. Gives up on escapes in keys, more than 64 properties, or text json.loads reads
 * differently from a strict parser. */
static void declared_json_keys(Ctx *ctx, const uint8_t *s, size_t n, Declared *out) {
    out->count = 0;
    if (json_check(s, n) != JSON_VALID) { ctx->give_up = 1; return; }
    JsonScan j = {s, s + n, 0};
    json_ws(&j);
    if (*j.p != '{') return; /* not an object: nothing declared */
    j.p++;
    for (;;) {
        json_ws(&j);
        if (*j.p == '}') return;
        const uint8_t *key = j.p + 1;
        json_scan_string(&j);
        size_t key_len = (size_t)(j.p - 1 - key);
        if (memchr(key, '\\', key_len)) { ctx->give_up = 1; return; }
        json_ws(&j);
        j.p++; /* ':' */
        json_ws(&j);
        const uint8_t *value = j.p;
        json_scan_value(&j, 1);
        if (key_len == 10 && !memcmp(key, "properties", 10)) {
            out->count = 0; /* the last "properties" wins, as in Python */
            if (*value == '{') {
                JsonScan p = {value + 1, j.p, 0};
                for (;;) {
                    json_ws(&p);
                    if (*p.p == '}') break;
                    const uint8_t *name = p.p + 1;
                    json_scan_string(&p);
                    size_t name_len = (size_t)(p.p - 1 - name);
                    if (memchr(name, '\\', name_len) || out->count == 64) { ctx->give_up = 1; return; }
                    for (int i = 0; i < out->count; i++)
                        if (out->lens[i] == name_len && !memcmp(out->keys[i], name, name_len)) { ctx->give_up = 1; return; }
                    out->keys[out->count] = name;
                    out->lens[out->count++] = name_len;
                    json_ws(&p);
                    p.p++; /* ':' */
                    json_scan_value(&p, 1);
                    json_ws(&p);
                    if (*p.p == ',') p.p++;
                }
            }
        }
        json_ws(&j);
        if (*j.p == ',') { j.p++; continue; }
        return;
    }
}

static int is_declared(const Declared *d, const Entry *e) {
    for (int i = 0; i < d->count; i++)
        if (d->lens[i] == e->key_len && !memcmp(d->keys[i], e->key, e->key_len)) return 1;
    return 0;
}

static const char *LOGFIRE_KEYS[] = {"logfire.span_type", "logfire.msg", "logfire.level_num", "logfire.tags",
                                     "logfire.json_schema", "logfire.pending_parent_id", NULL};

/* The span's attributes as one JSON object, JSON-declared text embedded as it came (spans.py). */
static int write_attributes(Ctx *ctx, Buf *b, const Entries *entries, const Declared *declared) {
    if (!buf_putc(b, '{')) return 0;
    for (size_t i = 0; i < entries->len; i++) {
        const Entry *e = &entries->items[i];
        if ((i && !buf_putc(b, ',')) || !json_string(b, e->key, e->key_len) || !buf_putc(b, ':')) return 0;
        if (declared->count && is_declared(declared, e) && e->value) {
            AnyValue v;
            if (!read_any(ctx, e->value, e->value_len, &v)) return 0;
            if (v.kind == 1 && v.len && (v.bytes[0] == '{' || v.bytes[0] == '[')) {
                for (const char **k = LOGFIRE_KEYS; *k; k++)
                    if (key_is(e, *k)) return ctx->give_up = 1, 0;
                if (v.len > MAX_STRING_BYTES || !valid_utf8(v.bytes, v.len)) return ctx->give_up = 1, 0;
                int check = json_check(v.bytes, v.len);
                if (check == JSON_UNSURE) return ctx->give_up = 1, 0;
                if (check == JSON_VALID) {
                    if (!buf_put(b, v.bytes, v.len)) return 0;
                    continue;
                }
            }
        }
        if (!write_any(ctx, b, e->value, e->value_len, 0)) return 0;
    }
    return buf_putc(b, '}');
}

/* ---------- the columns this file fills ---------- */

enum {
    C_START, C_END, C_DURATION, C_TRACE, C_SPAN, C_PARENT, C_KIND, C_LEVEL, C_NAME, C_MESSAGE, C_ATTRIBUTES,
    C_SCHEMA, C_STATUS_CODE, C_STATUS_MESSAGE, C_SPAN_KIND, C_EVENTS, C_LINKS, C_IS_EXCEPTION, C_EXC_TYPE,
    C_EXC_MESSAGE, C_EXC_STACKTRACE, C_TAG_VALUES, C_RESOURCE, C_SCOPE, C_ENRICH, C_PROVIDER, C_MODEL,
    C_INPUT_TOKENS, C_OUTPUT_TOKENS, C_CACHE_READ_TOKENS, C_CACHE_WRITE_TOKENS, C_COST, C_COST_SOURCE, N_COLUMNS
};

static const char *COLUMN_NAMES[N_COLUMNS] = {
    "start_timestamp", "end_timestamp", "duration", "trace_id", "span_id", "parent_span_id", "kind", "level",
    "span_name", "message", "attributes", "attributes_json_schema", "otel_status_code", "otel_status_message",
    "otel_span_kind", "otel_events", "otel_links", "is_exception", "exception_type", "exception_message",
    "exception_stacktrace", "tag_values", "resource_index", "scope_index", "enrich", "gen_ai_provider",
    "gen_ai_model", "input_tokens", "output_tokens", "cache_read_tokens", "cache_write_tokens", "cost_usd",
    "cost_source",
};
/* 's' string, 'q' int64, 'd' double, 'b' uint8/bool, 'i' int32 */
static const char COLUMN_TYPES[N_COLUMNS + 1] = "qqdssssbsssssssssbssssiibssqqqqds";

typedef struct {
    Column cols[N_COLUMNS];
    Buf tag_offsets; /* int32 list offsets of the tags column, one per row + 1 */
    Buf tag_valid;
    Py_ssize_t tag_nulls;
    int32_t tag_count;
    Py_ssize_t rows;
    /* (start, length) of each Resource and InstrumentationScope message, -1 when absent */
    Buf resources, scopes;
    Buf calls; /* one byte per row: 1 when the row has (or Python may give it) model-call tokens */
} Out;

static const char *STATUS_CODES[] = {"UNSET", "OK", "ERROR"};
static const char *SPAN_KINDS[] = {"unspecified", "internal", "server", "client", "producer", "consumer"};

/* ---------- model-call columns: collector/genai.py genai_columns(), for the cases it is sure of ---------- */

static const char *MODEL_CALL_OPERATIONS[] = {"chat", "text_completion", "generate_content", "completion", "embeddings", NULL};
static const char *AGENT_OPERATIONS[] = {"invoke_agent", "create_agent", "execute_tool", "experiment", NULL};
static const char *HTTP_KEYS[] = {"http.target", "http.response.status_code", "http.status_code", "http.request.method",
                                  "http.method", "http.route", "url.full", "http.url", "url.path", "url.query", NULL};
static const char *PROVIDER_KEYS[] = {"gen_ai.provider.name", "gen_ai.system", "llm.provider", "llm.system", NULL};
static const char *MODEL_NAME_KEYS[] = {"gen_ai.response.model", "gen_ai.request.model", "llm.model_name", NULL};
static const char *TOKEN_KEYS[4][6] = {
    {"gen_ai.usage.input_tokens", "llm.token_count.prompt", NULL},
    {"gen_ai.usage.output_tokens", "llm.token_count.completion", NULL},
    {"gen_ai.usage.cache_read.input_tokens", "gen_ai.usage.cache_read_input_tokens",
     "gen_ai.usage.details.cache_read_tokens", "llm.token_count.prompt_details.cache_read", NULL},
    {"gen_ai.usage.cache_creation.input_tokens", "gen_ai.usage.cache_write.input_tokens",
     "gen_ai.usage.cache_creation_input_tokens", "gen_ai.usage.details.cache_write_tokens",
     "llm.token_count.prompt_details.cache_write", NULL},
};

static int string_in(const uint8_t *s, size_t n, const char **names) {
    for (const char **k = names; *k; k++)
        if (n == strlen(*k) && !memcmp(s, *k, n)) return 1;
    return 0;
}

/* The value of a key as Python's attributes.get() sees it: 0 absent or null, 1 a value in *v. */
static int attribute(Ctx *ctx, const Entries *entries, const char *key, AnyValue *v) {
    const Entry *e = find_key(entries, key);
    if (!e || !e->value || !read_any(ctx, e->value, e->value_len, v)) return 0;
    return v->kind != 0;
}

/* _first(): the first key whose value is not None. */
static int first_value(Ctx *ctx, const Entries *entries, const char **keys, AnyValue *v) {
    for (const char **k = keys; *k; k++)
        if (attribute(ctx, entries, *k, v)) return 1;
    return 0;
}

/* Is one of the attributes genai_columns() reads declared as JSON (so Python would read it parsed)? */
static int reads_declared_json(Ctx *ctx, const Entries *entries, const Declared *declared) {
    static const char *OTHER_KEYS[] = {"gen_ai.operation.name", "openinference.span.kind", "operation.cost", NULL};
    const char **lists[] = {OTHER_KEYS, PROVIDER_KEYS, MODEL_NAME_KEYS, TOKEN_KEYS[0], TOKEN_KEYS[1], TOKEN_KEYS[2],
                            TOKEN_KEYS[3], NULL};
    for (const char ***list = lists; *list; list++) {
        for (const char **k = *list; *k; k++) {
            const Entry *e = find_key(entries, *k);
            AnyValue v;
            if (e && e->value && is_declared(declared, e) && read_any(ctx, e->value, e->value_len, &v) && v.kind == 1 &&
                v.len && (v.bytes[0] == '{' || v.bytes[0] == '['))
                return 1;
        }
    }
    return 0;
}

typedef struct {
    int python;           /* 1: Python computes the http and model-call columns of this span */
    int call;             /* 0: not a model call, all NULL */
    AnyValue provider, model;
    int has_provider, has_model;
    int64_t tokens[4];
    int has_tokens[4];
    double cost;
} Call;

/* genai_columns() for this span, or call->python = 1 when Python must do it (http attributes, a
 * cost to compute with genai-prices, values that are not plain strings and numbers). */
static void model_call(Ctx *ctx, const Entries *entries, const Declared *declared, Call *call) {
    memset(call, 0, sizeof *call);
    for (const char **k = HTTP_KEYS; *k; k++)
        if (find_key(entries, *k)) { call->python = 1; return; }
    if (declared->count && reads_declared_json(ctx, entries, declared)) { call->python = 1; return; }
    AnyValue op;
    int has_op = attribute(ctx, entries, "gen_ai.operation.name", &op);
    if (has_op && (op.kind == 5 || op.kind == 6)) { call->python = 1; return; }
    int is_call = 0;
    if (has_op && op.kind == 1 && string_in(op.bytes, op.len, MODEL_CALL_OPERATIONS)) {
        is_call = 1;
    } else if ((has_op && op.kind == 1 && string_in(op.bytes, op.len, AGENT_OPERATIONS)) ||
               find_key(entries, "gen_ai.agent.name") || find_key(entries, "agent_name")) {
        is_call = 0;
    } else {
        AnyValue kind;
        is_call = (attribute(ctx, entries, "openinference.span.kind", &kind) && kind.kind == 1 && kind.len == 3 &&
                   !memcmp(kind.bytes, "LLM", 3)) ||
                  (!has_op && find_key(entries, "gen_ai.usage.input_tokens") && find_key(entries, "gen_ai.request.model"));
    }
    if (!is_call) return;
    call->call = 1;
    call->has_provider = first_value(ctx, entries, PROVIDER_KEYS, &call->provider);
    call->has_model = first_value(ctx, entries, MODEL_NAME_KEYS, &call->model);
    if ((call->has_provider && call->provider.kind != 1) || (call->has_model && call->model.kind != 1)) {
        call->python = 1; /* str() of a number or a list */
        return;
    }
    for (int t = 0; t < 4; t++) {
        AnyValue v;
        if (!first_value(ctx, entries, TOKEN_KEYS[t], &v)) continue;
        if (v.kind == 3 && (int64_t)v.scalar >= 0) {
            call->tokens[t] = (int64_t)v.scalar;
            call->has_tokens[t] = 1;
        } else if (v.kind == 4) {
            double d;
            memcpy(&d, &v.scalar, 8);
            if (d == floor(d) && d >= 0 && d < 9223372036854775808.0) {
                call->tokens[t] = (int64_t)d;
                call->has_tokens[t] = 1;
            }
        }
    }
    AnyValue cost;
    int has_cost = attribute(ctx, entries, "operation.cost", &cost);
    if (has_cost && cost.kind == 3) {
        call->cost = (double)(int64_t)cost.scalar;
    } else if (has_cost && cost.kind == 4) {
        memcpy(&call->cost, &cost.scalar, 8);
        if (!isfinite(call->cost)) has_cost = 0;
    } else {
        has_cost = 0;
    }
    if (!has_cost) call->python = 1; /* priced with genai-prices */
}

static int put_call(Column *c, const Call *call) {
    int on = call->call && !call->python;
    if (!(on && call->has_provider ? col_string(&c[C_PROVIDER], (const char *)call->provider.bytes, call->provider.len)
                                   : col_null_string(&c[C_PROVIDER])))
        return 0;
    if (!(on && call->has_model ? col_string(&c[C_MODEL], (const char *)call->model.bytes, call->model.len)
                                : col_null_string(&c[C_MODEL])))
        return 0;
    for (int t = 0; t < 4; t++)
        if (!col_fixed(&c[C_INPUT_TOKENS + t], &call->tokens[t], 8, on && call->has_tokens[t])) return 0;
    if (!col_fixed(&c[C_COST], &call->cost, 8, on)) return 0;
    return on ? col_string(&c[C_COST_SOURCE], "reported", 8) : col_null_string(&c[C_COST_SOURCE]);
}

static void iso_timestamp(uint64_t nanos, char *out, size_t size) {
    uint64_t micros = nanos / 1000;
    time_t seconds = (time_t)(micros / 1000000);
    unsigned fraction = (unsigned)(micros % 1000000);
    struct tm tm;
    gmtime_r(&seconds, &tm);
    if (fraction) /* datetime.isoformat() leaves out a zero fraction */
        snprintf(out, size, "%04d-%02d-%02dT%02d:%02d:%02d.%06u+00:00", tm.tm_year + 1900, tm.tm_mon + 1,
                 tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, fraction);
    else
        snprintf(out, size, "%04d-%02d-%02dT%02d:%02d:%02d+00:00", tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday,
                 tm.tm_hour, tm.tm_min, tm.tm_sec);
}

static int all_zero(const uint8_t *s, size_t n) {
    for (size_t i = 0; i < n; i++)
        if (s[i]) return 0;
    return 1;
}

static int put_hex(Column *c, const uint8_t *s, size_t n) {
    static const char hex[] = "0123456789abcdef";
    if (!col_start_value(c) || !buf_reserve(&c->data, 2 * n)) return 0;
    for (size_t i = 0; i < n; i++) {
        c->data.data[c->data.len++] = hex[s[i] >> 4];
        c->data.data[c->data.len++] = hex[s[i] & 15];
    }
    return col_end_string(c, 1);
}

/* The exception columns from the attributes of the last `exception` event. */
typedef struct {
    const uint8_t *attributes;
    size_t len;
    int found;
} LastException;

/* Events -> otel_events JSON; remembers the last `exception` event. */
static int write_events(Ctx *ctx, Buf *b, const uint8_t **events, const size_t *lens, size_t count, LastException *exc) {
    if (!buf_putc(b, '[')) return 0;
    for (size_t i = 0; i < count; i++) {
        Reader r = {events[i], events[i] + lens[i]};
        Field f;
        uint64_t time_ns = 0;
        const uint8_t *name = (const uint8_t *)"";
        size_t name_len = 0;
        while (r.p < r.end) {
            if (!next_field(&r, &f)) return ctx->give_up = 1, 0;
            if (f.number == 1) {
                if (f.wire != 1) return ctx->give_up = 1, 0;
                time_ns = f.value;
            } else if (f.number == 2) {
                if (f.wire != 2 || !valid_utf8(f.bytes, f.len)) return ctx->give_up = 1, 0;
                name = f.bytes;
                name_len = f.len;
            } else if ((f.number == 3 && f.wire != 2) || (f.number == 4 && f.wire != 0)) {
                return ctx->give_up = 1, 0;
            }
        }
        if (name_len > MAX_NAME_BYTES) return ctx->give_up = 1, 0;
        char stamp[48];
        iso_timestamp(time_ns, stamp, sizeof stamp);
        if ((i && !buf_putc(b, ',')) || !buf_puts(b, "{\"name\":") || !json_string(b, name, name_len) ||
            !buf_puts(b, ",\"timestamp\":\"") || !buf_puts(b, stamp) || !buf_puts(b, "\",\"attributes\":") ||
            !write_object(ctx, b, events[i], lens[i], 3, 0) || !buf_putc(b, '}'))
            return 0;
        if (name_len == 9 && !memcmp(name, "exception", 9)) {
            exc->attributes = events[i];
            exc->len = lens[i];
            exc->found = 1;
        }
    }
    return buf_putc(b, ']');
}

static int write_links(Ctx *ctx, Buf *b, const uint8_t **links, const size_t *lens, size_t count) {
    if (!buf_putc(b, '[')) return 0;
    for (size_t i = 0; i < count; i++) {
        Reader r = {links[i], links[i] + lens[i]};
        Field f;
        const uint8_t *trace = NULL, *span = NULL;
        size_t trace_len = 0, span_len = 0;
        while (r.p < r.end) {
            if (!next_field(&r, &f)) return ctx->give_up = 1, 0;
            if (f.number >= 1 && f.number <= 4 && f.wire != 2) return ctx->give_up = 1, 0;
            if ((f.number == 5 && f.wire != 0) || (f.number == 6 && f.wire != 5)) return ctx->give_up = 1, 0;
            if (f.number == 1) { trace = f.bytes; trace_len = f.len; }
            if (f.number == 2) { span = f.bytes; span_len = f.len; }
            if (f.number == 3 && !valid_utf8(f.bytes, f.len)) return ctx->give_up = 1, 0;
        }
        if ((i && !buf_putc(b, ',')) || !buf_puts(b, "{\"trace_id\":") || !json_hex(b, trace, trace_len) ||
            !buf_puts(b, ",\"span_id\":") || !json_hex(b, span, span_len) || !buf_puts(b, ",\"attributes\":") ||
            !write_object(ctx, b, links[i], lens[i], 4, 0) || !buf_putc(b, '}'))
            return 0;
    }
    return buf_putc(b, ']');
}

typedef struct {
    const uint8_t **items;
    size_t *lens;
    size_t len, cap;
} Slices;

static int slices_add(Slices *s, const uint8_t *p, size_t n) {
    if (s->len == s->cap) {
        size_t cap = s->cap ? s->cap * 2 : 8;
        const uint8_t **items = realloc(s->items, cap * sizeof *items);
        if (!items) return 0;
        s->items = items;
        size_t *lens = realloc(s->lens, cap * sizeof *lens);
        if (!lens) return 0;
        s->lens = lens;
        s->cap = cap;
    }
    s->items[s->len] = p;
    s->lens[s->len++] = n;
    return 1;
}

/* One Span message -> one row of every column. */
static int decode_span(Ctx *ctx, Out *out, const uint8_t *s, size_t n, int32_t resource, int32_t scope,
                       Entries *entries, Slices *events, Slices *links) {
    Reader r = {s, s + n};
    Field f;
    const uint8_t *trace = NULL, *span = NULL, *parent = NULL, *name = (const uint8_t *)"", *attrs = s;
    size_t trace_len = 0, span_len = 0, parent_len = 0, name_len = 0;
    uint64_t start_ns = 0, end_ns = 0;
    int64_t kind = 0, status_code = 0;
    const uint8_t *status_message = NULL;
    size_t status_message_len = 0;
    int status_seen = 0;
    events->len = links->len = 0;
    while (r.p < r.end) {
        if (!next_field(&r, &f)) return ctx->give_up = 1, 0;
        switch (f.number) {
        case 1: case 2: case 3: case 4: case 5: case 9: case 11: case 13: case 15:
            if (f.wire != 2) return ctx->give_up = 1, 0;
            break;
        case 6: case 10: case 12: case 14:
            if (f.wire != 0) return ctx->give_up = 1, 0;
            break;
        case 7: case 8:
            if (f.wire != 1) return ctx->give_up = 1, 0;
            break;
        case 16:
            if (f.wire != 5) return ctx->give_up = 1, 0;
            break;
        default:
            continue;
        }
        switch (f.number) {
        case 1: trace = f.bytes; trace_len = f.len; break;
        case 2: span = f.bytes; span_len = f.len; break;
        case 3: if (!valid_utf8(f.bytes, f.len)) return ctx->give_up = 1, 0; break;
        case 4: parent = f.bytes; parent_len = f.len; break;
        case 5:
            if (!valid_utf8(f.bytes, f.len)) return ctx->give_up = 1, 0;
            name = f.bytes;
            name_len = f.len;
            break;
        case 6: kind = (int32_t)f.value; break;
        case 7: start_ns = f.value; break;
        case 8: end_ns = f.value; break;
        case 11:
            if (events->len >= MAX_EVENTS || !slices_add(events, f.bytes, f.len)) return ctx->give_up = 1, 0;
            break;
        case 13:
            if (links->len >= MAX_LINKS || !slices_add(links, f.bytes, f.len)) return ctx->give_up = 1, 0;
            break;
        case 15: {
            if (status_seen++) return ctx->give_up = 1, 0; /* two Status messages merge: Python's business */
            Reader sr = {f.bytes, f.bytes + f.len};
            Field g;
            while (sr.p < sr.end) {
                if (!next_field(&sr, &g)) return ctx->give_up = 1, 0;
                if (g.number == 2) {
                    if (g.wire != 2 || !valid_utf8(g.bytes, g.len)) return ctx->give_up = 1, 0;
                    status_message = g.bytes;
                    status_message_len = g.len;
                } else if (g.number == 3) {
                    if (g.wire != 0) return ctx->give_up = 1, 0;
                    status_code = (int32_t)g.value;
                }
            }
            break;
        }
        }
    }
    /* invalid ids are rejected span by span with a reason: Python's job */
    if (trace_len != 16 || all_zero(trace, 16) || span_len != 8 || all_zero(span, 8)) return ctx->give_up = 1, 0;
    if (parent_len && parent_len != 8) return ctx->give_up = 1, 0;
    if (name_len > MAX_NAME_BYTES) return ctx->give_up = 1, 0;
    if (start_ns >= (1ULL << 62) || end_ns >= (1ULL << 62)) return ctx->give_up = 1, 0;
    if (!read_key_values(ctx, attrs, n, 9, entries)) return 0;

    Declared declared = {.count = 0};
    const Entry *schema = find_key(entries, "logfire.json_schema");
    const uint8_t *schema_text = NULL;
    size_t schema_len = 0;
    int has_schema = optional_text(ctx, schema, &schema_text, &schema_len);
    if (ctx->give_up) return 0;
    if (has_schema) {
        declared_json_keys(ctx, schema_text, schema_len, &declared);
        if (ctx->give_up) return 0;
    }

    const uint8_t *span_type = NULL;
    size_t span_type_len = 0;
    const Entry *type_entry = find_key(entries, "logfire.span_type");
    if (type_entry && type_entry->value) {
        AnyValue v;
        if (!read_any(ctx, type_entry->value, type_entry->value_len, &v)) return 0;
        if (v.kind == 1) { span_type = v.bytes; span_type_len = v.len; }
    }
    int is_log = span_type && span_type_len == 3 && !memcmp(span_type, "log", 3);
    int is_pending = span_type && span_type_len == 12 && !memcmp(span_type, "pending_span", 12);
    int has_parent = parent_len == 8 && !all_zero(parent, 8);

    Column *c = out->cols;
    int64_t start_us = (int64_t)(start_ns / 1000), end_us = (int64_t)(end_ns / 1000);
    double duration = (double)((int64_t)end_ns - (int64_t)start_ns) / 1e9;
    if (!col_fixed(&c[C_START], &start_us, 8, 1)) return 0;
    if (is_pending) {
        /* the real span's ids: the pending span's parent, and logfire.pending_parent_id */
        if (!has_parent) return ctx->give_up = 1, 0;
        const uint8_t *pending_parent = NULL;
        size_t pending_parent_len = 0;
        int has_pending_parent = optional_text(ctx, find_key(entries, "logfire.pending_parent_id"), &pending_parent, &pending_parent_len);
        if (ctx->give_up) return 0;
        int zero = 1;
        for (size_t i = 0; has_pending_parent && i < pending_parent_len; i++)
            if (pending_parent[i] != '0') zero = 0;
        if (!col_fixed(&c[C_END], &end_us, 8, 0) || !col_fixed(&c[C_DURATION], &duration, 8, 0) ||
            !put_hex(&c[C_TRACE], trace, 16) || !put_hex(&c[C_SPAN], parent, 8) ||
            !(has_pending_parent && !zero ? col_string(&c[C_PARENT], (const char *)pending_parent, pending_parent_len)
                                          : col_null_string(&c[C_PARENT])) ||
            !col_string(&c[C_KIND], "pending_span", 12))
            return 0;
    } else {
        if (!col_fixed(&c[C_END], &end_us, 8, 1) || !col_fixed(&c[C_DURATION], &duration, 8, 1) ||
            !put_hex(&c[C_TRACE], trace, 16) || !put_hex(&c[C_SPAN], span, 8) ||
            !(has_parent ? put_hex(&c[C_PARENT], parent, 8) : col_null_string(&c[C_PARENT])) ||
            !(is_log ? col_string(&c[C_KIND], "log", 3) : col_string(&c[C_KIND], "span", 4)))
            return 0;
    }

    const char *status = status_code >= 0 && status_code <= 2 ? STATUS_CODES[status_code] : "UNSET";
    uint8_t level = status_code == 2 ? 17 : 9;
    const Entry *level_entry = find_key(entries, "logfire.level_num");
    if (level_entry && level_entry->value) {
        AnyValue v;
        if (!read_any(ctx, level_entry->value, level_entry->value_len, &v)) return 0;
        if (v.kind == 3 && (int64_t)v.scalar >= 1 && (int64_t)v.scalar <= 24) level = (uint8_t)v.scalar;
    }
    if (!col_fixed(&c[C_LEVEL], &level, 1, 1) || !col_string(&c[C_NAME], (const char *)name, name_len)) return 0;

    const uint8_t *msg = NULL;
    size_t msg_len = 0;
    int has_msg = optional_text(ctx, find_key(entries, "logfire.msg"), &msg, &msg_len);
    if (ctx->give_up) return 0;
    if (has_msg && msg_len > MAX_MESSAGE_BYTES) return ctx->give_up = 1, 0;
    if (!(has_msg ? col_string(&c[C_MESSAGE], (const char *)msg, msg_len)
                  : col_string(&c[C_MESSAGE], (const char *)name, name_len)))
        return 0;

    Column *a = &c[C_ATTRIBUTES];
    if (!col_start_value(a) || !write_attributes(ctx, &a->data, entries, &declared) || !col_end_string(a, 1)) return 0;
    if (!(has_schema ? col_string(&c[C_SCHEMA], (const char *)schema_text, schema_len) : col_null_string(&c[C_SCHEMA])))
        return 0;

    /* tags: a list of strings, else NULL (a list holding anything else: Python's business) */
    const Entry *tags = find_key(entries, "logfire.tags");
    int tags_valid = 0;
    if (tags && tags->value) {
        AnyValue v;
        if (!read_any(ctx, tags->value, tags->value_len, &v)) return 0;
        if (v.kind == 5) {
            Reader tr = {v.bytes, v.bytes + v.len};
            Field g;
            while (tr.p < tr.end) {
                if (!next_field(&tr, &g)) return ctx->give_up = 1, 0;
                if (g.number != 1) continue;
                AnyValue item;
                if (g.wire != 2 || !read_any(ctx, g.bytes, g.len, &item)) return ctx->give_up = 1, 0;
                if (item.kind != 1 || item.len > MAX_STRING_BYTES || !valid_utf8(item.bytes, item.len))
                    return ctx->give_up = 1, 0;
                if (!col_string(&c[C_TAG_VALUES], (const char *)item.bytes, item.len)) return 0;
                out->tag_count++;
            }
            tags_valid = 1;
        }
    }
    int32_t zero = 0;
    if ((out->tag_offsets.len == 0 && !buf_put(&out->tag_offsets, &zero, 4)) ||
        !buf_put(&out->tag_offsets, &out->tag_count, 4) || !buf_putc(&out->tag_valid, tags_valid)) return 0;
    if (!tags_valid) out->tag_nulls++;

    if (!col_string(&c[C_STATUS_CODE], status, strlen(status)) ||
        !(status_message_len ? col_string(&c[C_STATUS_MESSAGE], (const char *)status_message, status_message_len)
                             : col_null_string(&c[C_STATUS_MESSAGE])))
        return 0;
    const char *span_kind = kind >= 0 && kind <= 5 ? SPAN_KINDS[kind] : "unspecified";
    if (!col_string(&c[C_SPAN_KIND], span_kind, strlen(span_kind))) return 0;

    LastException exc = {NULL, 0, 0};
    Column *ev = &c[C_EVENTS];
    if (events->len) {
        if (!col_start_value(ev) || !write_events(ctx, &ev->data, events->items, events->lens, events->len, &exc) ||
            !col_end_string(ev, 1))
            return 0;
    } else if (!col_null_string(ev)) {
        return 0;
    }
    Column *lk = &c[C_LINKS];
    if (links->len) {
        if (!col_start_value(lk) || !write_links(ctx, &lk->data, links->items, links->lens, links->len) ||
            !col_end_string(lk, 1))
            return 0;
    } else if (!col_null_string(lk)) {
        return 0;
    }

    uint8_t is_exception = exc.found;
    if (!col_fixed(&c[C_IS_EXCEPTION], &is_exception, 1, 1)) return 0;
    static const char *EXCEPTION_KEYS[] = {"exception.type", "exception.message", "exception.stacktrace"};
    Entries exception_entries = {0};
    if (exc.found && !read_key_values(ctx, exc.attributes, exc.len, 3, &exception_entries)) {
        free(exception_entries.items);
        return 0;
    }
    for (int k = 0; k < 3; k++) {
        const uint8_t *text = NULL;
        size_t len = 0;
        int has = exc.found && optional_text(ctx, find_key(&exception_entries, EXCEPTION_KEYS[k]), &text, &len);
        if (ctx->give_up || !(has ? col_string(&c[C_EXC_TYPE + k], (const char *)text, len) : col_null_string(&c[C_EXC_TYPE + k]))) {
            free(exception_entries.items);
            return 0;
        }
    }
    free(exception_entries.items);

    Call call;
    model_call(ctx, entries, &declared, &call);
    if (ctx->give_up || !put_call(c, &call)) return 0;
    uint8_t enrich = (uint8_t)call.python;
    uint8_t maybe_call = (uint8_t)(call.python || (call.call && (call.has_tokens[0] || call.has_tokens[1])));
    if (!buf_putc(&out->calls, (char)maybe_call)) return 0;
    if (!col_fixed(&c[C_RESOURCE], &resource, 4, 1) || !col_fixed(&c[C_SCOPE], &scope, 4, 1) ||
        !col_fixed(&c[C_ENRICH], &enrich, 1, 1))
        return 0;
    out->rows++;
    return 1;
}

static int add_slice(Buf *b, const uint8_t *base, const uint8_t *p, size_t n) {
    int64_t pair[2] = {p ? (int64_t)(p - base) : -1, (int64_t)n};
    return buf_put(b, pair, sizeof pair);
}

/* ResourceSpans and ScopeSpans share a shape: 1 the Resource / InstrumentationScope (decoded by
 * Python), 2 the repeated children, 3 schema_url. Finds field 1 (NULL when absent) and checks the
 * rest as upb would; 0 when the Python path should take it (a second field 1 would merge). */
static int read_header(const uint8_t *s, size_t n, const uint8_t **header, size_t *header_len) {
    Reader r = {s, s + n};
    Field f;
    *header = NULL;
    *header_len = 0;
    while (r.p < r.end) {
        if (!next_field(&r, &f)) return 0;
        if (f.number >= 1 && f.number <= 3 && f.wire != 2) return 0;
        if (f.number == 1) {
            if (*header) return 0;
            *header = f.bytes;
            *header_len = f.len;
        }
        if (f.number == 3 && !valid_utf8(f.bytes, f.len)) return 0;
    }
    return 1;
}

/* The whole request; returns 0 when the Python path should take it. */
static int decode_request(Ctx *ctx, Out *out, const uint8_t *body, size_t n) {
    Reader r = {body, body + n};
    Field f;
    Entries entries = {0};
    Slices events = {0}, links = {0};
    int32_t resource_index = 0, scope_index = 0;
    int ok = 1;
    while (ok && r.p < r.end) {
        ok = next_field(&r, &f);
        if (!ok || f.number != 1) continue;
        if (f.wire != 2) { ok = 0; break; }
        Reader rs = {f.bytes, f.bytes + f.len};
        Field g;
        const uint8_t *resource;
        size_t resource_len;
        ok = read_header(f.bytes, f.len, &resource, &resource_len);
        if (!ok || !add_slice(&out->resources, body, resource, resource_len)) { ok = 0; break; }
        while (ok && rs.p < rs.end) {
            ok = next_field(&rs, &g);
            if (!ok || g.number != 2) continue;
            Reader ss = {g.bytes, g.bytes + g.len};
            Field h;
            const uint8_t *scope;
            size_t scope_len;
            ok = read_header(g.bytes, g.len, &scope, &scope_len);
            if (!ok || !add_slice(&out->scopes, body, scope, scope_len)) { ok = 0; break; }
            while (ok && ss.p < ss.end) {
                ok = next_field(&ss, &h);
                if (ok && h.number == 2)
                    ok = decode_span(ctx, out, h.bytes, h.len, resource_index, scope_index, &entries, &events, &links);
            }
            scope_index++;
        }
        resource_index++;
    }
    free(entries.items);
    free(events.items);
    free(events.lens);
    free(links.items);
    free(links.lens);
    return ok && !ctx->give_up;
}

/* Could drop_duplicate_calls() find anything: a row with model-call tokens under another one in
 * the same trace? Most requests have none, and then Python skips the check. */
static int calls_under_calls(Out *out) {
    const uint8_t *maybe = (const uint8_t *)out->calls.data;
    const char *traces = out->cols[C_TRACE].data.data, *spans = out->cols[C_SPAN].data.data;
    const char *parents = out->cols[C_PARENT].data.data;
    const int32_t *parent_offsets = (const int32_t *)out->cols[C_PARENT].offsets.data;
    for (Py_ssize_t i = 0; i < out->rows; i++) {
        if (!maybe[i] || parent_offsets[i + 1] - parent_offsets[i] != 16) continue;
        for (Py_ssize_t j = 0; j < out->rows; j++) {
            if (j != i && maybe[j] && !memcmp(spans + 16 * j, parents + parent_offsets[i], 16) &&
                !memcmp(traces + 32 * j, traces + 32 * i, 32))
                return 1;
        }
    }
    return 0;
}

/* ---------- the digest that recognises a retried request ---------- */

/* XXH64 (Yann Collet's xxHash, 64-bit), run with two seeds for 128 bits: about ten times faster
 * than blake2b, and retries only need accidental collisions to be out of the question. */
#define P1 0x9E3779B185EBCA87ULL
#define P2 0xC2B2AE3D27D4EB4FULL
#define P3 0x165667B19E3779F9ULL
#define P4 0x85EBCA77C2B2AE63ULL
#define P5 0x27D4EB2F165667C5ULL

static inline uint64_t rotl64(uint64_t x, int r) { return (x << r) | (x >> (64 - r)); }
static inline uint64_t xxh_round(uint64_t acc, uint64_t input) { return rotl64(acc + input * P2, 31) * P1; }
static inline uint64_t xxh_merge(uint64_t acc, uint64_t value) { return (acc ^ xxh_round(0, value)) * P1 + P4; }

static uint64_t xxh64(const uint8_t *p, size_t n, uint64_t seed) {
    const uint8_t *end = p + n;
    uint64_t h;
    if (n >= 32) {
        uint64_t v1 = seed + P1 + P2, v2 = seed + P2, v3 = seed, v4 = seed - P1;
        for (; end - p >= 32; p += 32) {
            v1 = xxh_round(v1, load64(p));
            v2 = xxh_round(v2, load64(p + 8));
            v3 = xxh_round(v3, load64(p + 16));
            v4 = xxh_round(v4, load64(p + 24));
        }
        h = rotl64(v1, 1) + rotl64(v2, 7) + rotl64(v3, 12) + rotl64(v4, 18);
        h = xxh_merge(xxh_merge(xxh_merge(xxh_merge(h, v1), v2), v3), v4);
    } else {
        h = seed + P5;
    }
    h += (uint64_t)n;
    for (; end - p >= 8; p += 8) h = rotl64(h ^ xxh_round(0, load64(p)), 27) * P1 + P4;
    if (end - p >= 4) {
        uint32_t k;
        memcpy(&k, p, 4);
        h = rotl64(h ^ (uint64_t)k * P1, 23) * P2 + P3;
        p += 4;
    }
    for (; p < end; p++) h = rotl64(h ^ (uint64_t)*p * P5, 11) * P1;
    h ^= h >> 33;
    h *= P2;
    h ^= h >> 29;
    h *= P3;
    h ^= h >> 32;
    return h;
}

PyDoc_STRVAR(digest_doc, "digest(data: bytes) -> str\n\n32 hex characters (128 bits: XXH64 with two seeds).");

static PyObject *digest(PyObject *self, PyObject *args) {
    (void)self;
    Py_buffer view;
    if (!PyArg_ParseTuple(args, "y*", &view)) return NULL;
    uint64_t a, b;
    Py_BEGIN_ALLOW_THREADS
    a = xxh64(view.buf, (size_t)view.len, 0);
    b = xxh64(view.buf, (size_t)view.len, 0x5370796c61737321ULL);
    Py_END_ALLOW_THREADS
    PyBuffer_Release(&view);
    char text[33];
    snprintf(text, sizeof text, "%016llx%016llx", (unsigned long long)a, (unsigned long long)b);
    return PyUnicode_FromStringAndSize(text, 32);
}

/* ---------- handing columns to Python ---------- */

/* One byte per row -> an Arrow bitmap (bit i set when byte i is non-zero). */
static PyObject *pack_bits(const Buf *bytes_per_row, Py_ssize_t rows) {
    PyObject *bytes = PyBytes_FromStringAndSize(NULL, (rows + 7) / 8);
    if (!bytes) return NULL;
    uint8_t *bits = (uint8_t *)PyBytes_AS_STRING(bytes);
    memset(bits, 0, (rows + 7) / 8);
    for (Py_ssize_t i = 0; i < rows; i++)
        if (bytes_per_row->data[i]) bits[i / 8] |= (uint8_t)(1 << (i % 8));
    return bytes;
}

/* A validity bitmap, or None when nothing is null (Arrow's way of saying all valid). */
static PyObject *bitmap(const Buf *valid, Py_ssize_t rows, Py_ssize_t nulls) {
    if (nulls == 0) Py_RETURN_NONE;
    return pack_bits(valid, rows);
}

static void free_capsule(PyObject *capsule) { free(PyCapsule_GetPointer(capsule, "spyglass.buffer")); }

/* Hands a buffer's memory to Python without copying it: (address, size, owner), for
 * pyarrow.foreign_buffer(); the memory is freed when the owner capsule is. */
static PyObject *hand_over(Buf *b) {
    if (!b->data && !buf_reserve(b, 8)) return PyErr_NoMemory();
    PyObject *owner = PyCapsule_New(b->data, "spyglass.buffer", free_capsule);
    if (!owner) return NULL;
    PyObject *result = Py_BuildValue("(KnN)", (unsigned long long)(uintptr_t)b->data, (Py_ssize_t)b->len, owner);
    if (result) b->data = NULL, b->len = b->cap = 0; /* the capsule owns it now */
    return result;
}

static PyObject *column_tuple(Column *c, char type, Py_ssize_t rows) {
    Py_ssize_t count = type == 's' ? (Py_ssize_t)c->valid.len : rows;
    PyObject *validity = bitmap(&c->valid, count, c->nulls);
    if (!validity) return NULL;
    if (type == 's') {
        if (c->offsets.len == 0 && !col_start_value(c)) return PyErr_NoMemory();
        return Py_BuildValue("(nNNNn)", count, validity, hand_over(&c->offsets), hand_over(&c->data), c->nulls);
    }
    return Py_BuildValue("(nNNn)", rows, validity, hand_over(&c->data), c->nulls);
}

static void out_free(Out *out) {
    for (int i = 0; i < N_COLUMNS; i++) col_free(&out->cols[i]);
    buf_free(&out->tag_offsets);
    buf_free(&out->tag_valid);
    buf_free(&out->resources);
    buf_free(&out->scopes);
    buf_free(&out->calls);
}

static PyObject *slices_list(const Buf *b) {
    Py_ssize_t count = (Py_ssize_t)(b->len / 16);
    PyObject *list = PyList_New(count);
    if (!list) return NULL;
    const int64_t *pairs = (const int64_t *)b->data;
    for (Py_ssize_t i = 0; i < count; i++) {
        PyObject *item = Py_BuildValue("(LL)", (long long)pairs[2 * i], (long long)pairs[2 * i + 1]);
        if (!item) { Py_DECREF(list); return NULL; }
        PyList_SET_ITEM(list, i, item);
    }
    return list;
}

PyDoc_STRVAR(decode_traces_doc,
"decode_traces(body: bytes) -> dict | None\n\n"
"Column buffers for the spans of an OTLP/protobuf ExportTraceServiceRequest, or None when the\n"
"Python decoder should handle this request (see collector/fast_traces.py).");

static PyObject *decode_traces(PyObject *self, PyObject *args) {
    Py_buffer view;
    if (!PyArg_ParseTuple(args, "y*", &view)) return NULL;
    Out out;
    memset(&out, 0, sizeof out);
    Ctx ctx = {0};
    int ok;
    int duplicates_possible = 0;
    Py_BEGIN_ALLOW_THREADS
    ok = decode_request(&ctx, &out, (const uint8_t *)view.buf, (size_t)view.len);
    if (ok && out.rows) duplicates_possible = calls_under_calls(&out);
    Py_END_ALLOW_THREADS
    if (!ok || out.rows == 0) {
        out_free(&out);
        PyBuffer_Release(&view);
        Py_RETURN_NONE;
    }
    PyObject *result = PyDict_New();
    int failed = result == NULL;
    for (int i = 0; !failed && i < N_COLUMNS; i++) {
        PyObject *value;
        if (i == C_IS_EXCEPTION) { /* Arrow booleans are bits */
            value = pack_bits(&out.cols[i].data, out.rows);
        } else {
            value = column_tuple(&out.cols[i], COLUMN_TYPES[i], out.rows);
        }
        failed = value == NULL || PyDict_SetItemString(result, COLUMN_NAMES[i], value) < 0;
        Py_XDECREF(value);
    }
    if (!failed) {
        PyObject *tags = Py_BuildValue("(NNn)", bitmap(&out.tag_valid, out.rows, out.tag_nulls), hand_over(&out.tag_offsets),
                                       out.tag_nulls);
        failed = tags == NULL || PyDict_SetItemString(result, "tags", tags) < 0;
        Py_XDECREF(tags);
    }
    if (!failed) failed = PyDict_SetItemString(result, "calls_under_calls", duplicates_possible ? Py_True : Py_False) < 0;
    PyObject *rows = PyLong_FromSsize_t(out.rows), *resources = slices_list(&out.resources), *scopes = slices_list(&out.scopes);
    failed = failed || !rows || !resources || !scopes || PyDict_SetItemString(result, "rows", rows) < 0 ||
             PyDict_SetItemString(result, "resources", resources) < 0 || PyDict_SetItemString(result, "scopes", scopes) < 0;
    Py_XDECREF(rows);
    Py_XDECREF(resources);
    Py_XDECREF(scopes);
    out_free(&out);
    PyBuffer_Release(&view);
    if (failed) {
        Py_XDECREF(result);
        return PyErr_Occurred() ? NULL : PyErr_NoMemory();
    }
    return result;
}

static PyMethodDef methods[] = {
    {"decode_traces", decode_traces, METH_VARARGS, decode_traces_doc},
    {"digest", digest, METH_VARARGS, digest_doc},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "collector._fastspans", NULL, -1, methods};

PyMODINIT_FUNC PyInit__fastspans(void) { return PyModule_Create(&module); }
