/* npy_internal.h - the NPY header reader shared by io.c (files, buffers) and
 * npz.c (zip members). Not part of the public API: libvdit's one public
 * header is vdit.h. */
#ifndef VDIT_NPY_INTERNAL_H
#define VDIT_NPY_INTERNAL_H

#include "vdit.h"

/* Reads exactly n bytes at the current position of a source; 0 if all came. */
typedef int (*vdit__npy_reader)(void *ctx, void *buf, size_t n);

typedef struct {
    vdit_dtype dtype;
    int ndim;
    int64_t shape[VDIT_MAX_DIMS];
    uint64_t data_offset; /* bytes of preamble and header */
    uint64_t nbytes;      /* product(shape) * dtype size; == total - data_offset */
} vdit__npy_info;

/* Reads and checks the preamble and header of an NPY of `total` bytes;
 * messages start with `what` and call the source a `kind` ("file",
 * "member", "buffer"). Leaves the source at the first data byte. */
int vdit__npy_read_header(vdit__npy_reader rd, void *ctx, uint64_t total, const char *what, const char *kind,
                          vdit__npy_info *info, vdit_err *err);
/* The header, then the data into out->data (malloc'ed). */
int vdit__npy_read_array(vdit__npy_reader rd, void *ctx, uint64_t total, const char *what, const char *kind,
                         vdit_array *out, vdit_err *err);
/* The NPY 1.0 preamble and header numpy writes for (dtype, shape), padded to
 * a multiple of 64 bytes; returns its length (<= cap) or 0 if it does not fit. */
size_t vdit__npy_header(unsigned char *buf, size_t cap, vdit_dtype dtype, int ndim, const int64_t *shape);

#endif
